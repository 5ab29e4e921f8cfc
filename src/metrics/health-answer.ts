/**
 * The answers of the health probes, shared by the API's routes (`src/http/health-routes.ts`) and
 * the management listener (`metrics-server.ts`), so both say the same thing.
 */

/** The body and status of a health answer. */
export interface HealthAnswer {
  readonly status: 200 | 503;
  readonly body: { readonly live: boolean } | { readonly ready: boolean };
}

/** `GET /v2/health/live`: the process answers, so it is live. */
export function liveAnswer(): HealthAnswer {
  return { status: 200, body: { live: true } };
}

/** `GET /v2/health/ready`: 200 `{"ready": true}` or 503 `{"ready": false}`. */
export function readyAnswer(isReady: () => boolean): HealthAnswer {
  const ready = isReady();
  return { status: ready ? 200 : 503, body: { ready } };
}
