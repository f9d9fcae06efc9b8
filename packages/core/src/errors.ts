/**
 * Errors with a stable `code`, so callers (CLI, tests, the wire) can branch on what went wrong
 * without parsing messages.
 */
export class AlexnetError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A config that cannot be run. `field` is the path of the offending field, e.g. `layers[4].filters`. */
export class ConfigError extends AlexnetError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('E_CONFIG', `${field}: ${message}`);
  }
}

/** A message on the wire that does not follow the protocol. */
export class ProtocolError extends AlexnetError {
  constructor(message: string) {
    super('E_PROTOCOL', message);
  }
}

/** Shapes that do not fit together (a bug or a bad config that slipped past validation). */
export class ShapeError extends AlexnetError {
  constructor(message: string) {
    super('E_SHAPE', message);
  }
}

/** Input data that cannot be used: a corrupt image, an empty class folder, a truncated file, a bad label. */
export class DataError extends AlexnetError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super('E_DATA', `${file}: ${reason}`);
  }
}
