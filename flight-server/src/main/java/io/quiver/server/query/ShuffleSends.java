package io.quiver.server.query;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QueryId;
import io.quiver.proto.QuiverException;
import io.quiver.server.FlightErrors;
import io.quiver.proto.wire.ShuffleSendTicket;
import io.quiver.proto.wire.ShuffleTarget;
import io.quiver.proto.wire.Wire;
import io.quiver.shuffle.Partitioner;
import io.quiver.shuffle.ShuffleConfig;
import io.quiver.shuffle.ShuffleDescriptor;
import io.quiver.shuffle.ShuffleId;
import io.quiver.shuffle.ShuffleWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightProducer.ServerStreamListener;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * The sending side of a push shuffle on a data node, started by the coordinator with a DoGet of a
 * {@code quiver.ShuffleSendTicket} ({@link Send#toTicket}): the node runs the send's query over its own shards (under
 * the coordinating query's id and budget), and a {@link ShuffleWriter} routes every row by its
 * bucket column to the node whose fragment joins it. The DoGet answers, once every target has
 * acknowledged, with one row per target: {@code target, endpoint, rows, batches}. Cancelling the
 * DoGet stops the send; a failure is passed on to every target, so its fragment fails with the
 * reason instead of waiting.
 */
public final class ShuffleSends {
  /** The column the send's query computes the bucket in; it is not sent. */
  public static final String BUCKET_COLUMN = "__quiver_bucket";
  public static final Schema STATS_SCHEMA = new Schema(List.of(
      Field.notNullable("target", new ArrowType.Int(32, true)),
      Field.notNullable("endpoint", new ArrowType.Utf8()),
      Field.notNullable("rows", new ArrowType.Int(64, true)),
      Field.notNullable("batches", new ArrowType.Int(64, true))));

  private ShuffleSends() {}

  /** One target of a send: its node, and the buckets (shard ids) whose rows it takes. */
  public record Target(String endpoint, List<Integer> buckets) {
    public Target {
      buckets = List.copyOf(buckets);
    }
  }

  /**
   * One node's send: the exchange, the query that produces its rows with {@link #BUCKET_COLUMN},
   * its targets in order, and which sender of how many it is. Its buckets are the anchor's shard
   * ids, or hash buckets ({@code hashBuckets}: a hash-shuffled join, the anchor repartitioned too).
   */
  public record Send(String exchange, String endpoint, String table, String sql, List<Target> targets, int sender,
      int senders, boolean hashBuckets) {
    public Send {
      targets = List.copyOf(targets);
    }

    /** The DoGet ticket, a {@code quiver.ShuffleSendTicket}, under the query {@code allocator} belongs to. */
    byte[] toTicket(BufferAllocator allocator) {
      ShuffleSendTicket.Builder b = ShuffleSendTicket.newBuilder().setExchange(exchange).setQuery(sql)
          .setSender(sender).setSenders(senders);
      RemoteTables.queryIdOf(allocator).ifPresent(id -> b.setQueryId(id).setMemoryBytes(allocator.getLimit()));
      for (Target t : targets) {
        b.addTargets(ShuffleTarget.newBuilder().setEndpoint(t.endpoint()).addAllBuckets(t.buckets()));
      }
      return Wire.pack(b.build());
    }

    /** What EXPLAIN shows of it. */
    public String describe() {
      StringBuilder b = new StringBuilder(sql).append(" → rows routed by ").append(BUCKET_COLUMN).append(" to ");
      for (int i = 0; i < targets.size(); i++) {
        b.append(i == 0 ? "" : ", ").append(targets.get(i).endpoint()).append(hashBuckets ? " (bucket " : " (shards ")
            .append(targets.get(i).buckets().stream().map(String::valueOf).reduce((x, y) -> x + ", " + y).orElse(""))
            .append(')');
      }
      return b.toString();
    }
  }

  /**
   * Runs a send: its query on this node, every row routed to its target. Answers on {@code listener}
   * (the stats, or the error).
   */
  public static void serve(ShuffleSendTicket t, QueryManager queries, SessionContext session, ShuffleConfig config,
      BufferAllocator nodeAllocator, ServerStreamListener listener) {
    String sql = t.getQuery();
    long memoryBytes = Math.max(0, t.getMemoryBytes());
    int sender = t.getSender();
    int senders = t.getSenders();
    List<String> endpoints = new ArrayList<>();
    Map<Integer, Integer> targetOfBucket = new HashMap<>();
    for (ShuffleTarget target : t.getTargetsList()) {
      for (int b : target.getBucketsList()) {
        targetOfBucket.put(b, endpoints.size());
      }
      endpoints.add(target.getEndpoint());
    }
    ShuffleId id;
    QueryId queryId;
    try {
      queryId = new QueryId(t.getQueryId());
      id = new ShuffleId(queryId, t.getExchange());
    } catch (QuiverException e) {
      listener.error(FlightErrors.toFlight(e));
      return;
    }
    QueryExecution exec = null;
    List<AutoCloseable> clients = new ArrayList<>();
    // the rows sent are the query's (its allocator); the clients only take the targets' acknowledgements
    List<ShuffleWriter.Target> targets = new ArrayList<>();
    for (int i = 0; i < endpoints.size(); i++) {
      FlightClient c = NodeCalls.client(nodeAllocator, endpoints.get(i));
      clients.add(c);
      targets.add(new ShuffleWriter.Target(c, new ShuffleDescriptor(id, i, sender, senders, memoryBytes, null)));
    }
    boolean writing = false; // once the writer runs, it tells the targets of a failure itself
    try {
      exec = queries.claim(queries.submit(sql, session, List.of(), queryId, memoryBytes, null).handle());
      BufferAllocator allocator = exec.allocator();
      ResultStreamer.awaitExecution(exec, listener, "the coordinator cancelled the shuffle");
      QueryExecution running = exec;
      ShuffleWriter writer = new ShuffleWriter(allocator, targets, Partitioner.byBucketColumn(BUCKET_COLUMN,
          targetOfBucket), config.batchRows(), memoryBytes > 0 ? Math.min(config.batchBytes(), Math.max(64 << 10,
          memoryBytes / 16)) : config.batchBytes(), config.senderStall(),
          () -> listener.isCancelled() || running.state().state().isTerminal());
      writing = true;
      ShuffleWriter.Stats stats = NodeCalls.detached(() -> writer.write(running.reader(), Set.of(BUCKET_COLUMN)));
      try (VectorSchemaRoot out = VectorSchemaRoot.create(STATS_SCHEMA, allocator)) {
        out.allocateNew();
        for (int i = 0; i < endpoints.size(); i++) {
          ((IntVector) out.getVector("target")).setSafe(i, i);
          ((VarCharVector) out.getVector("endpoint")).setSafe(i, endpoints.get(i).getBytes(StandardCharsets.UTF_8));
          ((BigIntVector) out.getVector("rows")).setSafe(i, stats.rows()[i]);
          ((BigIntVector) out.getVector("batches")).setSafe(i, stats.batches()[i]);
        }
        out.setRowCount(endpoints.size());
        listener.start(out);
        listener.putNext();
        listener.completed();
      }
      exec.state().finish();
    } catch (Throwable e) {
      QuiverException q = exec != null && exec.state().failure() != null ? exec.state().failure()
          : FlightErrors.toQuiver(e);
      if (!writing) {
        // failed before the writer ran (the query, say): tell every target here, so that no fragment waits
        NodeCalls.detached(() -> {
          ShuffleWriter.fail(nodeAllocator, targets, q.getMessage());
          return null;
        });
      }
      if (exec != null) {
        exec.state().fail(q);
      }
      if (!listener.isCancelled()) {
        listener.error(FlightErrors.toFlight(q));
      }
    } finally {
      QueryExecution.closeAll(clients);
    }
  }

  /** Reads a send's answer: rows sent per target (in target order). */
  static long[] rowsSent(VectorSchemaRoot answer) {
    long[] rows = new long[answer.getRowCount()];
    for (int i = 0; i < rows.length; i++) {
      rows[((IntVector) answer.getVector("target")).get(i)] = ((BigIntVector) answer.getVector("rows")).get(i);
    }
    return rows;
  }
}
