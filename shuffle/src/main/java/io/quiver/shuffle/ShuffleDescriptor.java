package io.quiver.shuffle;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QueryId;
import io.quiver.proto.QuiverException;
import io.quiver.proto.wire.Wire;
import java.util.Optional;
import org.apache.arrow.flight.FlightDescriptor;

/**
 * What one {@code DoPut} of a shuffle carries in its descriptor: the exchange, which target the
 * rows are for, which of how many senders sends them, the query's memory budget (the target keeps
 * at most a share of it in memory, see {@link ShuffleBuffers}), and, when the sender failed before
 * it could send, why (then the stream has no rows and the target's reader fails with that reason).
 * On the wire it is the protobuf {@code quiver.ShuffleDescriptor}, packed in an {@code Any}.
 */
public record ShuffleDescriptor(ShuffleId id, int target, int sender, int senders, long memoryBytes, String error) {
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
    io.quiver.proto.wire.ShuffleDescriptor.Builder b = io.quiver.proto.wire.ShuffleDescriptor.newBuilder()
        .setExchange(id.exchange()).setQueryId(id.queryId().value()).setTarget(target).setSender(sender)
        .setSenders(senders).setMemoryBytes(memoryBytes);
    if (error != null) {
      b.setError(error);
    }
    return FlightDescriptor.command(Wire.pack(b.build()));
  }

  /** The shuffle descriptor in {@code d}, or empty when {@code d} is not a shuffle's. */
  public static Optional<ShuffleDescriptor> of(FlightDescriptor d) {
    if (!d.isCommand()) {
      return Optional.empty();
    }
    return Wire.unpack(d.getCommand(), io.quiver.proto.wire.ShuffleDescriptor.class).map(m -> new ShuffleDescriptor(
        new ShuffleId(new QueryId(m.getQueryId()), m.getExchange()), m.getTarget(), m.getSender(), m.getSenders(),
        m.getMemoryBytes(), m.hasError() ? m.getError() : null));
  }
}
