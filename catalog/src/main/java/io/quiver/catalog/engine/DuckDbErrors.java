package io.quiver.catalog.engine;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.sql.SQLException;
import java.util.Locale;

/**
 * Translates DuckDB's errors into Quiver's error catalog. DuckDB prefixes every message with its
 * error class ({@code "Parser Error: ..."}, {@code "Catalog Error: ..."}); that class decides the
 * code. The user sees DuckDB's own explanation (which already quotes names and points at the
 * position), never a Java exception name.
 */
public final class DuckDbErrors {
  private DuckDbErrors() {}

  public static QuiverException translate(SQLException e) {
    String message = clean(e.getMessage());
    // a Java function's own error: streaming results lose it ("Invalid result set"); binding a
    // table function wraps it ("Binder Error: io.quiver.proto.QuiverException: ...")
    if (message.contains("Invalid result set") || message.contains(QuiverException.class.getName() + ": ")) {
      QuiverException fromFunction = FunctionFailures.takeRecent();
      if (fromFunction != null) {
        return new QuiverException(fromFunction.errorCode(), fromFunction.getMessage(), e);
      }
    }
    return new QuiverException(classify(message), message, e);
  }

  static ErrorCode classify(String message) {
    String m = message.toLowerCase(Locale.ROOT);
    if (m.startsWith("parser error")) {
      return ErrorCode.SYNTAX_ERROR;
    }
    if (m.startsWith("catalog error")) {
      return m.contains("does not exist") ? ErrorCode.TABLE_NOT_FOUND
          : m.contains("already exists") ? ErrorCode.ALREADY_EXISTS : ErrorCode.CATALOG_ERROR;
    }
    if (m.startsWith("binder error")) {
      return ErrorCode.BINDER_ERROR;
    }
    if (m.startsWith("conversion error") || m.startsWith("mismatch type error")
        || m.startsWith("type error")) {
      return ErrorCode.TYPE_MISMATCH;
    }
    if (m.startsWith("constraint error")) {
      return ErrorCode.CONSTRAINT_VIOLATION;
    }
    if (m.startsWith("invalid input error") || m.startsWith("out of range error")
        || m.startsWith("invalid type error") || m.startsWith("not implemented error")) {
      return m.startsWith("not implemented") ? ErrorCode.NOT_SUPPORTED : ErrorCode.INVALID_ARGUMENT;
    }
    if (m.startsWith("transaction error") || m.startsWith("transactioncontext error")) {
      return ErrorCode.TRANSACTION_ERROR;
    }
    if (m.startsWith("interrupt error")) {
      return ErrorCode.QUERY_CANCELLED;
    }
    if (m.startsWith("out of memory error")) {
      return ErrorCode.OUT_OF_MEMORY;
    }
    if (m.startsWith("io error") || m.startsWith("http error")) {
      return ErrorCode.IO_ERROR;
    }
    if (m.startsWith("internal error") || m.startsWith("fatal error")) {
      return ErrorCode.GENERIC_INTERNAL_ERROR;
    }
    return ErrorCode.GENERIC_USER_ERROR;
  }

  /** DuckDB's message without the JDBC wrapper noise, keeping its LINE/caret hint. */
  static String clean(String message) {
    if (message == null || message.isBlank()) {
      return "the database reported an error without a message";
    }
    String m = message.strip();
    // Newer drivers wrap the message in a JSON-ish prefix; keep DuckDB's own text.
    if (m.startsWith("java.sql.SQLException: ")) {
      m = m.substring("java.sql.SQLException: ".length());
    }
    return m;
  }

  public static String firstLine(SQLException e) {
    String m = clean(e.getMessage());
    int nl = m.indexOf('\n');
    return nl < 0 ? m : m.substring(0, nl);
  }
}
