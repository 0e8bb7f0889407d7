package io.quiver.server.query;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.util.concurrent.Callable;
import org.apache.arrow.flight.Location;

/** Calls from this node to another node's Flight server. */
public final class NodeCalls {
  private NodeCalls() {}

  /** The location of a node's Flight endpoint as gossip advertises it ({@code host:port}). */
  public static Location location(String endpoint) {
    int colon = endpoint.lastIndexOf(':');
    try {
      return Location.forGrpcInsecure(endpoint.substring(0, colon), Integer.parseInt(endpoint.substring(colon + 1)));
    } catch (RuntimeException e) {
      throw new QuiverException(ErrorCode.GENERIC_INTERNAL_ERROR, "'" + endpoint + "' is not a host:port endpoint", e);
    }
  }

  /**
   * Runs an outgoing call outside the gRPC context of the incoming call being served; otherwise
   * the outgoing call is cancelled as soon as the incoming one returns.
   */
  public static <T> T detached(Callable<T> call) {
    try {
      return io.grpc.Context.ROOT.call(call);
    } catch (RuntimeException e) {
      throw e;
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
