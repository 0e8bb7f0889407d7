package io.quiver.server;

import io.quiver.catalog.engine.DuckDbErrors;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.sql.SQLException;
import org.apache.arrow.flight.CallStatus;
import org.apache.arrow.flight.ErrorFlightMetadata;
import org.apache.arrow.flight.FlightRuntimeException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one place where Quiver's error catalog meets Flight's status codes. Clients see {@code
 * [ERROR_CODE] message} and the numeric code in the {@code quiver-error-code} trailer; internal
 * failures are logged here once, with their stack trace, and reach the client without one.
 */
public final class FlightErrors {
  private static final Logger LOG = LoggerFactory.getLogger(FlightErrors.class);
  public static final String ERROR_CODE_KEY = "quiver-error-code";

  private FlightErrors() {}

  public static CallStatus statusOf(ErrorCode code) {
    switch (code) {
      case TABLE_NOT_FOUND:
      case INVALID_HANDLE:
      case RESULT_EXPIRED:
        return CallStatus.NOT_FOUND;
      case ALREADY_EXISTS:
        return CallStatus.ALREADY_EXISTS;
      case NOT_SUPPORTED:
        return CallStatus.UNIMPLEMENTED;
      case QUERY_CANCELLED:
        return CallStatus.CANCELLED;
      case OUT_OF_MEMORY:
        return CallStatus.RESOURCE_EXHAUSTED;
      case SERVER_SHUTTING_DOWN:
      case NO_QUORUM:
      case IO_ERROR:
      case REMOTE_ERROR:
        return CallStatus.UNAVAILABLE;
      case GENERIC_INTERNAL_ERROR:
        return CallStatus.INTERNAL;
      default:
        return CallStatus.INVALID_ARGUMENT;
    }
  }

  /** Converts anything thrown while serving a call into the status the client receives. */
  public static FlightRuntimeException toFlight(Throwable t) {
    if (t instanceof FlightRuntimeException f) {
      return f;
    }
    QuiverException q = toQuiver(t);
    ErrorFlightMetadata md = new ErrorFlightMetadata();
    md.insert(ERROR_CODE_KEY, String.valueOf(q.errorCode().code()));
    return statusOf(q.errorCode())
        .withDescription("[" + q.errorCode() + "] " + q.getMessage())
        .withMetadata(md)
        .toRuntimeException();
  }

  /**
   * The allocation failure in {@code t}'s causes, or null. Arrow's C data import reports a budget
   * overrun as an IllegalArgumentException ("Could not load buffers ... due to memory limit").
   */
  private static Throwable outOfMemory(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof OutOfMemoryError || c instanceof org.apache.arrow.memory.OutOfMemoryException
          || (c instanceof IllegalArgumentException && String.valueOf(c.getMessage()).contains("due to memory limit"))) {
        return c;
      }
    }
    return null;
  }

  public static QuiverException toQuiver(Throwable t) {
    if (t instanceof QuiverException q) {
      return q;
    }
    if (t instanceof SQLException s) {
      return DuckDbErrors.translate(s);
    }
    if (t instanceof java.util.concurrent.CompletionException && t.getCause() != null) {
      return toQuiver(t.getCause());
    }
    if (t instanceof org.apache.arrow.flight.FlightRuntimeException f) {
      // another node's answer: keep its error code ("[CODE] message") when it sent one
      String description = f.status().description() == null ? f.getMessage() : f.status().description();
      java.util.regex.Matcher m = java.util.regex.Pattern.compile("^\\[([A-Z_]+)\\] (.*)$", java.util.regex.Pattern.DOTALL)
          .matcher(description == null ? "" : description);
      if (m.matches()) {
        for (ErrorCode code : ErrorCode.values()) {
          if (code.name().equals(m.group(1))) {
            return new QuiverException(code, m.group(2), t);
          }
        }
      }
      return new QuiverException(ErrorCode.REMOTE_ERROR, f.status().code() + ": " + description, t);
    }
    Throwable memory = outOfMemory(t);
    if (memory != null) {
      LOG.warn("query ran out of memory", t);
      return new QuiverException(ErrorCode.OUT_OF_MEMORY,
          "the query needs more memory than it is allowed: " + memory.getMessage(), t);
    }
    LOG.error("internal error", t);
    return new QuiverException(ErrorCode.GENERIC_INTERNAL_ERROR,
        "internal error (" + t.getClass().getSimpleName() + "); details are in the server log", t);
  }
}
