/**
 * The one formatter of zod issues, for every place that reports them: configuration files
 * (`config.yaml`, `policy.yaml`, the gateway config) name YAML keys, request bodies name JSON
 * fields.
 */
import type { z } from 'zod';

/** Who reads the message: an operator editing YAML, or a client that sent a JSON body. */
export type IssueAudience = 'config' | 'request';

const styles = {
  // `auth.algorithms.0: …`; the top level has no key to name.
  config: { root: '(top level)', index: (i: number) => `.${i}`, unknown: 'key', required: false },
  // `inputs[0].data: …`; the top level is the body.
  request: {
    root: 'request body',
    index: (i: number) => `[${i}]`,
    unknown: 'field',
    required: true,
  },
} as const;

/** The path of an issue in the audience's notation (`a.b.0` or `a.b[0]`). */
export function describeIssuePath(path: readonly PropertyKey[], audience: IssueAudience): string {
  const style = styles[audience];
  if (path.length === 0) return style.root;
  let out = '';
  for (const part of path) {
    out += typeof part === 'number' ? style.index(part) : `${out === '' ? '' : '.'}${String(part)}`;
  }
  return out.startsWith('.') ? out.slice(1) : out;
}

/**
 * One issue as `path: what is wrong`. Unknown keys are listed by name (at a configuration's top
 * level without a path); for a request, a missing field "is required".
 */
export function formatIssue(issue: z.core.$ZodIssue, audience: IssueAudience): string {
  const style = styles[audience];
  const where = describeIssuePath(issue.path, audience);
  if (issue.code === 'unrecognized_keys') {
    const what = `unknown ${style.unknown}${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    return audience === 'config' && issue.path.length === 0 ? what : `${where}: ${what}`;
  }
  if (style.required && issue.code === 'invalid_type' && /received undefined/.test(issue.message)) {
    return `${where}: is required`;
  }
  return `${where}: ${issue.message}`;
}

/** Every issue, one line each (configuration files report every problem at once). */
export function formatIssues(
  issues: readonly z.core.$ZodIssue[],
  audience: IssueAudience = 'config',
): string[] {
  return issues.map((issue) => formatIssue(issue, audience));
}
