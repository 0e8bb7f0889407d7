package io.quiver.shuffle;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightRuntimeException;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * The sending half of a shuffle, on one producing node: reads its input batch by batch, sends
 * each row to the target the {@link Partitioner} names, one {@code DoPut} per target, in batches of
 * about {@code batchRows} rows or {@code batchBytes} bytes. Before each batch it waits while the target's stream is not ready
 * (gRPC flow control: a target that does not keep up slows the sender down, and the sender's memory
 * stays at about one batch per target). Every target gets a stream, empty or not, so that it can
 * count its senders.
 *
 * <p>When the input fails, every target is told why (a descriptor with the reason, {@link
 * ShuffleDescriptor#failed}) before the open streams are cancelled, so the readers fail with that
 * reason rather than wait.
 */
public final class ShuffleWriter {
  /** Where one target's rows go: a client for its node, and the descriptor naming the exchange and the target. */
  public record Target(FlightClient client, ShuffleDescriptor descriptor) {}

  /** What was sent: rows and batches per target. */
  public record Stats(long[] rows, long[] batches) {
    public long totalRows() {
      long n = 0;
      for (long r : rows) {
        n += r;
      }
      return n;
    }
  }

  private final BufferAllocator allocator;
  private final List<Target> targets;
  private final Partitioner partitioner;
  private final int batchRows;
  private final long batchBytes;
  private final Duration stallTimeout;
  private final BooleanSupplier cancelled;

  /**
   * @param batchRows rows per sent batch (a target's batch is sent once it has this many rows or
   *     {@code batchBytes} bytes, whichever comes first)
   * @param batchBytes bytes per sent batch
   * @param stallTimeout how long a target may stay not ready before the shuffle fails
   * @param cancelled checked between batches and while waiting
   */
  public ShuffleWriter(BufferAllocator allocator, List<Target> targets, Partitioner partitioner, int batchRows,
      long batchBytes, Duration stallTimeout, BooleanSupplier cancelled) {
    if (targets.isEmpty() || batchRows < 1 || batchBytes < 1) {
      throw new IllegalArgumentException("a shuffle needs targets and a positive batch size");
    }
    this.allocator = allocator;
    this.targets = List.copyOf(targets);
    this.partitioner = partitioner;
    this.batchRows = batchRows;
    this.batchBytes = batchBytes;
    this.stallTimeout = stallTimeout;
    this.cancelled = cancelled;
  }

  /**
   * Sends every row of {@code input} (without the columns in {@code dropped}, such as a computed
   * bucket) and waits until every target has acknowledged its stream.
   */
  public Stats write(ArrowReader input, Set<String> dropped) {
    int n = targets.size();
    long[] rows = new long[n];
    long[] batches = new long[n];
    List<FlightClient.ClientStreamListener> streams = new ArrayList<>();
    List<Ack> acks = new ArrayList<>();
    List<VectorSchemaRoot> roots = new ArrayList<>();
    try {
      VectorSchemaRoot in = input.getVectorSchemaRoot();
      List<Field> kept = new ArrayList<>();
      for (Field f : in.getSchema().getFields()) {
        if (!dropped.contains(f.getName())) {
          kept.add(f);
        }
      }
      Schema out = new Schema(kept);
      for (Target t : targets) {
        VectorSchemaRoot root = VectorSchemaRoot.create(out, allocator);
        roots.add(root);
        root.allocateNew();
        Ack ack = new Ack();
        acks.add(ack);
        streams.add(t.client().startPut(t.descriptor().toFlight(), root, ack));
      }
      int[] filled = new int[n];
      int[] target = new int[0];
      while (input.loadNextBatch()) {
        checkCancelled();
        int count = in.getRowCount();
        if (count == 0) {
          continue;
        }
        if (target.length < count) {
          target = new int[count];
        }
        partitioner.targets(in, target);
        for (int c = 0; c < kept.size(); c++) {
          FieldVector from = in.getVector(kept.get(c).getName());
          int[] pos = filled.clone();
          for (int r = 0; r < count; r++) {
            int t = target[r];
            if (t >= 0) {
              roots.get(t).getVector(c).copyFromSafe(r, pos[t]++, from);
            }
          }
        }
        for (int r = 0; r < count; r++) {
          if (target[r] >= 0) {
            filled[target[r]]++;
          }
        }
        for (int t = 0; t < n; t++) {
          roots.get(t).setRowCount(filled[t]);
          if (filled[t] >= batchRows || bytes(roots.get(t)) >= batchBytes) {
            send(t, streams.get(t), acks.get(t), roots.get(t), filled, rows, batches);
          }
        }
      }
      for (int t = 0; t < n; t++) {
        if (filled[t] > 0) {
          send(t, streams.get(t), acks.get(t), roots.get(t), filled, rows, batches);
        }
        streams.get(t).completed();
      }
      for (int t = 0; t < n; t++) {
        streams.get(t).getResult();
      }
      return new Stats(rows, batches);
    } catch (IOException | RuntimeException e) {
      String reason = reason(e);
      fail(allocator, targets, reason);
      for (FlightClient.ClientStreamListener s : streams) {
        try {
          s.error(e);
        } catch (RuntimeException ignored) {
          // the stream may have ended already; its target has the reason
        }
      }
      if (e instanceof QuiverException q) {
        throw q;
      }
      throw new QuiverException(e instanceof FlightRuntimeException ? ErrorCode.REMOTE_ERROR : ErrorCode.IO_ERROR,
          "shuffle " + targets.get(0).descriptor().id() + " failed on its sending side: " + reason, e);
    } finally {
      roots.forEach(VectorSchemaRoot::close);
    }
  }

  /**
   * Tells every target that this sender failed with {@code reason} (an empty stream whose
   * descriptor carries it). Best effort: a target that cannot be reached learns it by its timeout.
   */
  public static void fail(BufferAllocator allocator, List<Target> targets, String reason) {
    for (Target t : targets) {
      try (VectorSchemaRoot empty = VectorSchemaRoot.create(new Schema(List.of()), allocator)) {
        FlightClient.ClientStreamListener s = t.client().startPut(t.descriptor().failed(reason).toFlight(), empty,
            new Ack());
        s.completed();
        s.getResult();
      } catch (RuntimeException e) {
        org.slf4j.LoggerFactory.getLogger(ShuffleWriter.class).warn("could not tell target {} of shuffle {} that "
            + "its sender failed: {}", t.descriptor().target(), t.descriptor().id(), e.getMessage());
      }
    }
  }

  private void send(int t, FlightClient.ClientStreamListener stream, Ack ack, VectorSchemaRoot root, int[] filled,
      long[] rows, long[] batches) {
    root.setRowCount(filled[t]);
    long deadline = System.nanoTime() + stallTimeout.toNanos();
    long park = 50_000;
    while (!stream.isReady()) {
      checkCancelled();
      Throwable refused = ack.error;
      if (refused != null) {
        // the target ended the stream (it failed, or its reader is gone): stop now, not at the timeout
        throw new QuiverException(ErrorCode.REMOTE_ERROR, "shuffle " + targets.get(t).descriptor().id() + ": target "
            + t + " refused more rows: " + reason(refused), refused);
      }
      if (System.nanoTime() > deadline) {
        throw new QuiverException(ErrorCode.REMOTE_ERROR, "shuffle " + targets.get(t).descriptor().id()
            + ": target " + t + " took no rows for " + stallTimeout.toSeconds() + " s");
      }
      LockSupport.parkNanos(park);
      park = Math.min(park * 2, 5_000_000);
    }
    stream.putNext();
    rows[t] += filled[t];
    batches[t]++;
    filled[t] = 0;
    root.allocateNew();
  }

  private static long bytes(VectorSchemaRoot root) {
    long n = 0;
    for (FieldVector v : root.getFieldVectors()) {
      n += v.getBufferSize();
    }
    return n;
  }

  /** A put's answer, with the target's error visible while rows are still being sent. */
  private static final class Ack implements FlightClient.PutListener {
    private final java.util.concurrent.CompletableFuture<Void> done = new java.util.concurrent.CompletableFuture<>();
    volatile Throwable error;

    @Override
    public void onNext(org.apache.arrow.flight.PutResult val) {
      val.close();
    }

    @Override
    public void onError(Throwable t) {
      error = t;
      done.completeExceptionally(t);
    }

    @Override
    public void onCompleted() {
      done.complete(null);
    }

    @Override
    public void getResult() {
      try {
        done.get();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new QuiverException(ErrorCode.QUERY_CANCELLED, "interrupted while a shuffle target acknowledged", e);
      } catch (java.util.concurrent.ExecutionException e) {
        throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
      }
    }
  }

  private void checkCancelled() {
    if (cancelled.getAsBoolean()) {
      throw QuiverException.user(ErrorCode.QUERY_CANCELLED, "shuffle %s was cancelled", targets.get(0).descriptor()
          .id());
    }
  }

  private static String reason(Throwable e) {
    String m = e.getMessage();
    return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
  }
}
