package io.quiver.shuffle;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QueryId;
import io.quiver.proto.QuiverException;
import java.io.IOException;
import java.util.Optional;
import org.apache.arrow.flight.FlightDescriptor;

/**
 * What one {@code DoPut} of a shuffle carries in its descriptor: the exchange, which target the
 * rows are for, which of how many senders sends them, the query's memory budget (the target keeps
 * at most a share of it in memory, see {@link ShuffleBuffers}), and, when the sender failed before
 * it could send, why (then the stream has no rows and the target's reader fails with that reason).
 */
public record ShuffleDescriptor(ShuffleId id, int target, int sender, int senders, long memoryBytes, String error) {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** The JSON key that marks a descriptor as a shuffle's. */
  static final String KEY = "shuffle";

  public ShuffleDescriptor {
    if (id == null || target < 0 || senders < 1 || sender < 0 || sender >= senders || memoryBytes < 0) {
      throw QuiverException.user(ErrorCode.MALFORMED_REQUEST,
          "bad shuffle descriptor: exchange %s, target %d, sender %d of %d, memory %d", id, target, sender, senders,
          memoryBytes);
    }
  }

  /** The same descriptor, telling the target that this sender failed with {@code reason}. */
  public ShuffleDescriptor failed(String reason) {
    return new ShuffleDescriptor(id, target, sender, senders, memoryBytes, reason == null ? "unknown failure" : reason);
  }

  public FlightDescriptor toFlight() {
    ObjectNode o = JSON.createObjectNode();
    o.put(KEY, id.exchange());
    o.put("query_id", id.queryId().value());
    o.put("target", target);
    o.put("sender", sender);
    o.put("senders", senders);
    o.put("memory_bytes", memoryBytes);
    if (error != null) {
      o.put("error", error);
    }
    try {
      return FlightDescriptor.command(JSON.writeValueAsBytes(o));
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The shuffle descriptor in {@code d}, or empty when {@code d} is not a shuffle's. */
  public static Optional<ShuffleDescriptor> of(FlightDescriptor d) {
    if (!d.isCommand()) {
      return Optional.empty();
    }
    byte[] bytes = d.getCommand();
    int i = 0;
    while (i < bytes.length && Character.isWhitespace(bytes[i])) {
      i++;
    }
    if (i == bytes.length || bytes[i] != '{') {
      return Optional.empty();
    }
    JsonNode o;
    try {
      o = JSON.readTree(bytes);
    } catch (IOException e) {
      return Optional.empty();
    }
    if (o == null || !o.hasNonNull(KEY)) {
      return Optional.empty();
    }
    return Optional.of(new ShuffleDescriptor(new ShuffleId(new QueryId(o.path("query_id").asText()),
        o.get(KEY).asText()), o.path("target").asInt(-1), o.path("sender").asInt(-1), o.path("senders").asInt(0),
        o.path("memory_bytes").asLong(0), o.hasNonNull("error") ? o.get("error").asText() : null));
  }
}
