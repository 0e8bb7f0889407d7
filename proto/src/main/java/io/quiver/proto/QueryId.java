package io.quiver.proto;

import java.util.UUID;
import java.util.regex.Pattern;

/** Identifies one query across coordinator, fragments and shuffles. Printable as {@code q-<uuid>}. */
public record QueryId(String value) {
  private static final Pattern FORMAT = Pattern.compile("q-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}");

  public QueryId {
    if (value == null || !FORMAT.matcher(value).matches()) {
      throw QuiverException.user(ErrorCode.INVALID_HANDLE, "'%s' is not a query id", value);
    }
  }

  public static QueryId random() {
    return new QueryId("q-" + UUID.randomUUID());
  }

  @Override
  public String toString() {
    return value;
  }
}
