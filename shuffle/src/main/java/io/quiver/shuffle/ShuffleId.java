package io.quiver.shuffle;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QueryId;
import io.quiver.proto.QuiverException;
import java.util.regex.Pattern;

/** One exchange of one query: the query's id and the exchange's name within it (letters, digits, {@code _}). */
public record ShuffleId(QueryId queryId, String exchange) {
  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_]{1,128}");

  public ShuffleId {
    if (queryId == null) {
      throw QuiverException.user(ErrorCode.MALFORMED_REQUEST, "a shuffle needs the id of its query");
    }
    if (exchange == null || !NAME.matcher(exchange).matches()) {
      throw QuiverException.user(ErrorCode.MALFORMED_REQUEST,
          "'%s' is not an exchange name (1-128 letters, digits or _)", exchange);
    }
  }

  @Override
  public String toString() {
    return queryId + "/" + exchange;
  }
}
