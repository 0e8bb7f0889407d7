package io.quiver.admission;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.util.Locale;

/** Admission priority of a query; earlier constants are served first. */
public enum QueryPriority {
  SYSTEM,
  INTERACTIVE,
  BATCH;

  /** The priority a session gets when it never sets one. */
  public static final QueryPriority DEFAULT = INTERACTIVE;

  /** Parses {@code system}, {@code interactive} or {@code batch} (any case). */
  public static QueryPriority parse(String text) {
    if (text != null) {
      for (QueryPriority p : values()) {
        if (p.name().equalsIgnoreCase(text.trim())) {
          return p;
        }
      }
    }
    throw QuiverException.user(
        ErrorCode.INVALID_ARGUMENT,
        "unknown query priority '%s': expected one of 'system', 'interactive', 'batch'",
        text);
  }

  public String sqlName() {
    return name().toLowerCase(Locale.ROOT);
  }
}
