package io.quiver.proto;

/**
 * The closed catalog of error codes. Every failure a client can see carries exactly one of these;
 * the translation to a transport status (Flight {@code CallStatus}) lives in one place in the
 * flight-server module. Codes are stable: never renumber, only append.
 */
public enum ErrorCode {
  // USER_ERROR 0x0000_xxxx
  GENERIC_USER_ERROR(0x0000_0000, ErrorType.USER_ERROR),
  SYNTAX_ERROR(0x0000_0001, ErrorType.USER_ERROR),
  TABLE_NOT_FOUND(0x0000_0002, ErrorType.USER_ERROR),
  CATALOG_ERROR(0x0000_0003, ErrorType.USER_ERROR),
  BINDER_ERROR(0x0000_0004, ErrorType.USER_ERROR),
  TYPE_MISMATCH(0x0000_0005, ErrorType.USER_ERROR),
  CONSTRAINT_VIOLATION(0x0000_0006, ErrorType.USER_ERROR),
  INVALID_ARGUMENT(0x0000_0007, ErrorType.USER_ERROR),
  INVALID_PARAMETERS(0x0000_0008, ErrorType.USER_ERROR),
  INVALID_HANDLE(0x0000_0009, ErrorType.USER_ERROR),
  MALFORMED_REQUEST(0x0000_000A, ErrorType.USER_ERROR),
  ALREADY_EXISTS(0x0000_000B, ErrorType.USER_ERROR),
  NOT_SUPPORTED(0x0000_000C, ErrorType.USER_ERROR),
  QUERY_CANCELLED(0x0000_000D, ErrorType.USER_ERROR),
  INVALID_SESSION_OPTION(0x0000_000E, ErrorType.USER_ERROR),
  RESULT_EXPIRED(0x0000_000F, ErrorType.USER_ERROR),
  TRANSACTION_ERROR(0x0000_0010, ErrorType.USER_ERROR),
  // INTERNAL_ERROR 0x0001_xxxx
  GENERIC_INTERNAL_ERROR(0x0001_0000, ErrorType.INTERNAL_ERROR),
  // INSUFFICIENT_RESOURCES 0x0002_xxxx
  OUT_OF_MEMORY(0x0002_0000, ErrorType.INSUFFICIENT_RESOURCES),
  SERVER_SHUTTING_DOWN(0x0002_0001, ErrorType.INSUFFICIENT_RESOURCES),
  /** No majority of the Raft group is reachable: metadata writes are refused. */
  NO_QUORUM(0x0002_0002, ErrorType.INSUFFICIENT_RESOURCES),
  // EXTERNAL 0x0003_xxxx
  IO_ERROR(0x0003_0000, ErrorType.EXTERNAL),
  REMOTE_ERROR(0x0003_0001, ErrorType.EXTERNAL);

  private final int code;
  private final ErrorType type;

  ErrorCode(int code, ErrorType type) {
    this.code = code;
    this.type = type;
  }

  public int code() {
    return code;
  }

  public ErrorType type() {
    return type;
  }
}
