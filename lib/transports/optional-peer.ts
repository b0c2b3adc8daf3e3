/**
 * An optional peer package a transport needs at refusal time (`WsException` from
 * `@nestjs/websockets`, `RpcException` from `@nestjs/microservices`). Nest's exception filters of
 * those transports recognise only instances of their own classes, so the class must come from the
 * app's copy of the package, and the guard's refusal path is synchronous. So it is imported once,
 * at module init (`preload()`), through the same loader as the app's own imports (a `require` of
 * our own would load a second copy under Jest's ESM mode); an app without the package never loads it.
 */
export class OptionalPeer<T> {
  private module: T | undefined;
  private loading: Promise<void> | undefined;

  constructor(
    readonly name: string,
    private readonly load: () => Promise<T>,
  ) {}

  /** Imports the package if it is installed; never rejects (absent is a normal state). */
  preload(): Promise<void> {
    this.loading ??= this.load().then(
      (m) => {
        this.module = m;
      },
      () => undefined,
    );
    return this.loading;
  }

  /** The package, once preloaded; undefined when it is not installed or not yet loaded. */
  get(): T | undefined {
    return this.module;
  }
}
