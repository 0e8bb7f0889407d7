package io.quiver.proto;

/** The four kinds of failure every {@link ErrorCode} belongs to. */
public enum ErrorType {
  /** The request itself is wrong: bad SQL, unknown table, wrong parameters. Retrying will not help. */
  USER_ERROR,
  /** A bug or broken invariant inside Quiver. */
  INTERNAL_ERROR,
  /** Not enough memory, slots or time right now; the same request may succeed later. */
  INSUFFICIENT_RESOURCES,
  /** Something outside Quiver failed: disk, network, a remote node or source. */
  EXTERNAL
}
