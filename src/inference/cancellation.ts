/**
 * A request's cancellation, made cheap for the runs that never need one. An `AbortController`
 * per request (with its `AbortSignal`, an `EventTarget`) and a client-close listener cost ~10 µs
 * of a small request's main-thread CPU in the bench profile, yet an inline run cannot be
 * interrupted: it only checks, once, whether the request is already cancelled. A
 * `Cancellation` records `abort()` in a field and makes the controller only when an engine that
 * queues or hands work off asks for `signal`; `arm` is called then (the HTTP route starts
 * listening for the client going away at that point, not for every request).
 */
export class Cancellation {
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown = undefined;
  #disarm: (() => void) | undefined;

  /**
   * `arm` runs once, when the signal is first asked for and the request is not yet cancelled;
   * what it returns is called by {@link disarm}.
   */
  constructor(private readonly arm?: (cancellation: Cancellation) => (() => void) | undefined) {}

  /** True once {@link abort} was called. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** What {@link abort} was given. */
  get reason(): unknown {
    return this.#reason;
  }

  /** Undoes what `arm` set up (a listener), if it ran; the request is over. */
  disarm(): void {
    const disarm = this.#disarm;
    this.#disarm = undefined;
    disarm?.();
  }

  /** Cancels the request (the first reason wins); aborts the signal if one was made. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }

  /** An `AbortSignal` that follows this cancellation, made on first use. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
      else this.#disarm = this.arm?.(this);
    }
    return this.#controller.signal;
  }
}
