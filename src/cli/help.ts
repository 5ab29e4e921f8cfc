/**
 * `bastion <command> --help`: what each command does and every option it takes. `main.ts` answers
 * `--help`/`-h` anywhere on a command line from here (exit 0, on stdout) before the command
 * parses its arguments; a command without an entry handles `--help` itself.
 */

interface CommandHelp {
  readonly usage: readonly string[];
  readonly summary: string;
  /** `[flags, what]` rows. */
  readonly options: readonly (readonly [string, string])[];
}

const help: Readonly<Record<string, CommandHelp>> = {
  serve: {
    usage: ['bastion serve [--config FILE]'],
    summary: 'Start the gateway; SIGTERM or SIGINT drains and stops it.',
    options: [
      ['-c, --config FILE', 'the YAML config (default: $BASTION_CONFIG, else config/default.yaml)'],
    ],
  },
  token: {
    usage: [
      'bastion token --sub NAME [--scope "infer:* models:manage"]... [--ttl 15m] [--state-dir DIR | --config FILE] [--init]',
    ],
    summary:
      'Print a short-lived token from the development issuer that the gateway created under its stateDir (dev mode only).',
    options: [
      ['--sub NAME', 'the token subject (required)'],
      [
        '--scope "S ..."',
        'scopes, space-separated; repeatable (infer:MODEL, infer:*, models:manage)',
      ],
      ['--ttl DURATION', 'lifetime like 30s, 15m or 1h, at most 24h (default 15m)'],
      ['--state-dir DIR', "the gateway's stateDir, or its dev-issuer folder (stateDir/dev-issuer)"],
      [
        '-c, --config FILE',
        "take stateDir from the gateway's config (default: $BASTION_CONFIG, else config/default.yaml)",
      ],
      [
        '--init',
        'create a new issuer where none is found (only a gateway using it accepts its tokens)',
      ],
    ],
  },
  keygen: {
    usage: ['bastion keygen --out PREFIX'],
    summary: 'Create an ECDSA P-256 key pair for signing models; never overwrites a file.',
    options: [['--out PREFIX', 'writes PREFIX.priv.pem and PREFIX.pub.pem (required)']],
  },
  sign: {
    usage: [
      'bastion sign MODEL_VERSION_DIR --key PRIVATE.pem [--signature FILE] [--ignore-paths PATH]...',
    ],
    summary: 'Sign a model version folder (an OpenSSF Model Signing bundle, DIR/model.sig).',
    options: [
      ['--key PRIVATE.pem', 'the signing key (required)'],
      ['--signature FILE', 'where to write the bundle (default DIR/model.sig)'],
      ['--ignore-paths PATH', 'a path the signature does not cover; repeatable'],
    ],
  },
  verify: {
    usage: [
      'bastion verify DIR (--key PUBLIC.pem | --certificate-chain CA.pem) [--signature FILE] [--ignore-paths PATH]...',
      'bastion verify DIR --identity I --identity-provider URL [--trusted-root FILE] [--signature FILE] [--ignore-paths PATH]...',
    ],
    summary: 'Verify a signed model folder as the gateway does; exit 1 when it does not verify.',
    options: [
      ['--key PUBLIC.pem', 'a trusted publisher key (key mode); repeatable'],
      ['--certificate-chain CA.pem', 'a trusted root CA (certificate mode); repeatable'],
      ['--identity I', 'keyless: the signer identity the Fulcio certificate must name'],
      ['--identity-provider URL', 'keyless: the OIDC issuer of that identity'],
      [
        '--trusted-root FILE',
        'keyless: the Sigstore trusted root (trusted_root.json) to check against',
      ],
      ['--signature FILE', 'the bundle (default DIR/model.sig)'],
      ['--ignore-paths PATH', 'a path the signature does not cover; repeatable'],
    ],
  },
  encrypt: {
    usage: [
      'bastion encrypt MODEL.onnx (--key-file KEY | --key-env NAME) [--out FILE] [--force]',
      'bastion encrypt --generate-key KEY',
    ],
    summary: 'Encrypt a model for storage at rest (AES-256-GCM), or create a new key.',
    options: [
      ['--key-file KEY', 'the encryption key file'],
      ['--key-env NAME', 'read the key from this environment variable instead'],
      ['--out FILE', 'the encrypted file (default MODEL.onnx.enc)'],
      ['--force', 'overwrite --out if it exists'],
      ['--generate-key KEY', 'write a new random key (mode 0600, never overwrites)'],
    ],
  },
  decrypt: {
    usage: [
      'bastion decrypt MODEL.onnx.enc (--key-file KEY | --key-env NAME) --out FILE [--force]',
    ],
    summary: 'Decrypt an encrypted model.',
    options: [
      ['--key-file KEY', 'the encryption key file'],
      ['--key-env NAME', 'read the key from this environment variable instead'],
      ['--out FILE', 'where to write the plaintext model (required)'],
      ['--force', 'overwrite --out if it exists'],
    ],
  },
  audit: {
    usage: [
      'bastion audit verify FILE... [--hmac-key-file FILE] [--checkpoint FILE] [--anchor HASH]',
      'bastion audit tail [FILE] [-n N] [--sub S] [--model M] [--outcome allowed|denied|error] [--since ISO] [--until ISO]',
    ],
    summary:
      "Check the audit log's hash chain (exit 1 naming the first bad seq), or read its tail.",
    options: [
      ['--hmac-key-file FILE', 'verify: the audit HMAC key (audit.hmacKeyFile; --key is the same)'],
      [
        '--checkpoint FILE',
        'verify: the head checkpoint (audit.checkpointFile) or a witness log line the chain must reach',
      ],
      ['--anchor HASH', 'verify: a head hash recorded earlier that the chain must contain'],
      ['-n N', 'tail: how many records'],
      ['--sub S, --model M', 'tail: only records of this subject / model'],
      ['--outcome O', 'tail: allowed, denied or error'],
      ['--since ISO, --until ISO', 'tail: a time window'],
    ],
  },
  policy: {
    usage: [
      'bastion policy fit --data ROWS.csv|ROWS.npy --input NAME [--columns 0,1,...] [--quantile Q] [--slack S] [--action log|flag|reject] [--bounds]',
      'bastion policy check POLICY.yaml',
    ],
    summary:
      "Fit a signed policy's out-of-distribution reference from training rows (printed as YAML), or validate a policy.yaml.",
    options: [
      ['--data FILE', 'fit: training rows, CSV (a header line is skipped) or a 2-D .npy array'],
      ['--input NAME', 'fit: the model input the rows feed'],
      ['--columns LIST', 'fit: zero-based CSV columns to use (default: all)'],
      ['--quantile Q', 'fit: training-score quantile for the threshold (default 0.99)'],
      ['--slack S', 'fit: headroom over that quantile (default 0.25)'],
      ['--action A', 'fit: log, flag (default) or reject above the threshold'],
      ['--bounds', 'fit: also print per-feature observed min/max as input constraints'],
    ],
  },
  doctor: {
    usage: ['bastion doctor [--config FILE] [--fail-on high|medium|low] [--json]'],
    summary:
      'Check a configuration and its files before serving: findings with severity and the fix (exit 1 at or above --fail-on).',
    options: [
      ['-c, --config FILE', 'the YAML config (default: $BASTION_CONFIG, else config/default.yaml)'],
      ['--fail-on SEVERITY', 'high (default), medium or low'],
      ['--json', 'print findings as JSON'],
    ],
  },
};

/** True when `argv` asks for help (`--help` or `-h` anywhere before a `--`). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/** The help text of a command, or undefined when the command answers `--help` itself. */
export function commandHelp(name: string): string | undefined {
  const entry = help[name];
  if (entry === undefined) return undefined;
  const width = Math.max(...entry.options.map(([flags]) => flags.length), '-h, --help'.length);
  const row = (flags: string, what: string): string => `  ${flags.padEnd(width)}  ${what}`;
  return [
    ...entry.usage.map((line, i) => `${i === 0 ? 'usage: ' : '       '}${line}`),
    '',
    entry.summary,
    '',
    'options:',
    ...entry.options.map(([flags, what]) => row(flags, what)),
    row('-h, --help', 'show this help'),
  ].join('\n');
}
