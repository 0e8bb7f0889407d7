package io.quiver.proto;

import java.util.Objects;

/**
 * The one exception type that crosses module boundaries. Its message is written for the user
 * (quoted identifiers, no stack traces, no {@code e.toString()}); the cause, if any, is for the
 * server log only.
 */
public class QuiverException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final ErrorCode errorCode;

  public QuiverException(ErrorCode errorCode, String message) {
    this(errorCode, message, null);
  }

  public QuiverException(ErrorCode errorCode, String message, Throwable cause) {
    super(Objects.requireNonNull(message, "message"), cause);
    this.errorCode = Objects.requireNonNull(errorCode, "errorCode");
  }

  public ErrorCode errorCode() {
    return errorCode;
  }

  public static QuiverException user(ErrorCode code, String format, Object... args) {
    if (code.type() != ErrorType.USER_ERROR) {
      throw new IllegalArgumentException(code + " is not a user error");
    }
    return new QuiverException(code, String.format(format, args));
  }
}
