package io.quiver.shuffle;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QueryId;
import io.quiver.proto.QuiverException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorLoader;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.VectorUnloader;
import org.apache.arrow.vector.ipc.ArrowStreamReader;
import org.apache.arrow.vector.ipc.ArrowStreamWriter;
import org.apache.arrow.vector.ipc.message.ArrowRecordBatch;
import org.apache.arrow.vector.types.pojo.Schema;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The receiving half of every shuffle on one node: what senders push ({@link #accept}) is kept per
 * exchange and target until that target's {@link ShuffleReader} has read it ({@link ShuffleConfig}
 * has the limits).
 *
 * <p><b>Memory stays bounded.</b> An exchange keeps its batches in memory up to a share of its
 * query's budget (a quarter; {@code exchangeMemoryBytes} when the query gave none) and while the
 * whole node's shuffle memory stays under {@code nodeMemoryBytes}; every further batch is appended
 * to an Arrow IPC file in {@code spillDir} and read back after the in-memory ones. A shuffle larger
 * than memory therefore finishes; only when the disk refuses too does it fail, with an
 * OUT_OF_MEMORY error that says so. Senders are slowed by gRPC flow control, not by this buffer:
 * accepting never blocks.
 *
 * <p>Rows may arrive before their reader opens. An exchange nobody reads is dropped by {@link
 * #sweep} after it has been idle that long; a closed exchange refuses late rows.
 */
public final class ShuffleBuffers implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(ShuffleBuffers.class);

  private record Key(ShuffleId id, int target) {}

  private final BufferAllocator allocator;
  private final ShuffleConfig config;
  private final Path spillDir;
  private final long nodeMemoryBytes;
  private final long defaultExchangeBytes;
  private final AtomicLong inMemory = new AtomicLong();
  private final AtomicLong spilled = new AtomicLong();
  private final Map<Key, Exchange> exchanges = new ConcurrentHashMap<>();
  private final Map<Key, Long> closed = new ConcurrentHashMap<>();

  /** @param allocator the node's allocator; an exchange that spills takes a child of it while it lives */
  public ShuffleBuffers(BufferAllocator allocator, ShuffleConfig config) {
    this.allocator = allocator;
    this.config = config;
    this.spillDir = config.spillDir();
    this.nodeMemoryBytes = config.nodeMemoryBytes();
    this.defaultExchangeBytes = config.exchangeMemoryBytes();
  }

  public ShuffleConfig config() {
    return config;
  }

  /** Takes one sender's stream for one target, to its end; a failure is also recorded for the reader. */
  public void accept(ShuffleDescriptor d, FlightStream stream) {
    Exchange x = exchange(d);
    if (d.error() != null) {
      x.fail("the node sending part " + d.sender() + " of " + d.senders() + " failed: " + d.error());
      while (stream.next()) {
        // nothing is expected on a failure notice; read it to its end
      }
      return;
    }
    try {
      x.schema(stream.getSchema());
      VectorSchemaRoot root = stream.getRoot();
      while (stream.next()) {
        if (root.getRowCount() > 0) {
          x.add(new VectorUnloader(root).getRecordBatch());
        }
      }
      x.senderDone(d.sender());
    } catch (RuntimeException e) {
      x.fail("the stream from the node sending part " + d.sender() + " of " + d.senders() + " broke off: "
          + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()));
      throw e;
    }
  }

  /**
   * The reader of what {@code target} receives in {@code id}, allocating from {@code allocator}. It
   * waits for the senders at most {@code timeout} and stops waiting when {@code cancelled}; closing
   * it drops the exchange.
   */
  public ShuffleReader open(ShuffleId id, int target, int senders, BufferAllocator allocator, Duration timeout,
      BooleanSupplier cancelled) {
    Exchange x = exchange(new ShuffleDescriptor(id, target, 0, senders, 0, null));
    return new ShuffleReader(allocator, x, timeout, cancelled);
  }

  /** Drops every exchange of {@code queryId} (its query ended or was cancelled); their readers fail. */
  public void drop(QueryId queryId, String reason) {
    for (Exchange x : exchanges.values()) {
      if (x.key.id().queryId().equals(queryId)) {
        x.fail(reason);
        x.close();
      }
    }
  }

  /** Drops exchanges idle longer than {@code idle} (their reader never came); returns how many. */
  public int sweep(Duration idle) {
    long cutoff = System.nanoTime() - idle.toNanos();
    int n = 0;
    for (Exchange x : exchanges.values()) {
      if (x.idleSince() < cutoff) {
        LOG.warn("dropping shuffle {} target {}: nothing read it for {} s", x.key.id(), x.key.target(),
            idle.toSeconds());
        x.fail("nothing read it for " + idle.toSeconds() + " s");
        x.close();
        n++;
      }
    }
    closed.values().removeIf(t -> t < cutoff);
    return n;
  }

  /** Bytes of shuffled batches held in memory on this node now. */
  public long inMemoryBytes() {
    return inMemory.get();
  }

  /** Bytes written to spill files on this node since it started. */
  public long spilledBytes() {
    return spilled.get();
  }

  /** Exchanges open on this node now. */
  public int openExchanges() {
    return exchanges.size();
  }

  @Override
  public void close() {
    for (Exchange x : exchanges.values()) {
      x.fail("the node is shutting down");
      x.close();
    }
  }

  private Exchange exchange(ShuffleDescriptor d) {
    Key key = new Key(d.id(), d.target());
    if (closed.containsKey(key)) {
      throw QuiverException.user(ErrorCode.QUERY_CANCELLED, "shuffle %s target %d has already ended", d.id(),
          d.target());
    }
    Exchange x = exchanges.computeIfAbsent(key, k -> new Exchange(k, d.senders(),
        d.memoryBytes() > 0 ? d.memoryBytes() / 4 : defaultExchangeBytes));
    if (x.senders != d.senders()) {
      throw new QuiverException(ErrorCode.MALFORMED_REQUEST, "shuffle " + d.id() + " target " + d.target()
          + " expects " + x.senders + " senders, a stream says " + d.senders());
    }
    return x;
  }

  /** One target's part of one exchange. Its monitor guards everything but the final spill read. */
  final class Exchange {
    final Key key;
    final int senders;
    private final long memoryLimit;
    private final Set<Integer> done = new HashSet<>();
    private final ArrayDeque<ArrowRecordBatch> batches = new ArrayDeque<>();
    private long memoryBytes;
    private Schema schema;
    private String failure;
    private boolean ended;
    private volatile long touched = System.nanoTime();
    // spill: written while senders send, read back once they are done
    private Path spillFile;
    private BufferAllocator spillAllocator;
    private FileChannel spillChannel;
    private VectorSchemaRoot spillRoot;
    private ArrowStreamWriter spillWriter;
    private ArrowStreamReader spillReader;
    private long spilledBatches;

    Exchange(Key key, int senders, long memoryLimit) {
      this.key = key;
      this.senders = senders;
      this.memoryLimit = memoryLimit;
    }

    long idleSince() {
      return touched;
    }

    synchronized void schema(Schema s) {
      if (schema == null) {
        schema = s;
        notifyAll();
      } else if (!schema.equals(s)) {
        fail("senders disagree on the rows' schema: " + schema + " and " + s);
        throw new QuiverException(ErrorCode.GENERIC_INTERNAL_ERROR, "shuffle " + key.id() + ": " + failure);
      }
    }

    synchronized void add(ArrowRecordBatch batch) {
      touched = System.nanoTime();
      if (ended) {
        batch.close();
        throw QuiverException.user(ErrorCode.QUERY_CANCELLED, "shuffle %s target %d has already ended%s", key.id(),
            key.target(), failure == null ? "" : ": " + failure);
      }
      long size = batch.computeBodyLength();
      if (spillWriter == null && memoryBytes + size <= memoryLimit && inMemory.get() + size <= nodeMemoryBytes) {
        batches.add(batch);
        memoryBytes += size;
        inMemory.addAndGet(size);
        notifyAll();
        return;
      }
      try (batch) {
        spill(batch, size);
      }
    }

    private void spill(ArrowRecordBatch batch, long size) {
      try {
        if (spillWriter == null) {
          Files.createDirectories(spillDir);
          spillFile = spillDir.resolve("shuffle-" + key.id().exchange() + "-" + key.target() + "-" + UUID.randomUUID()
              + ".arrows");
          spillChannel = FileChannel.open(spillFile, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
              StandardOpenOption.READ);
          spillAllocator = allocator.newChildAllocator("shuffle " + key.id() + " target " + key.target() + " spill", 0,
              Long.MAX_VALUE);
          spillRoot = VectorSchemaRoot.create(schema, spillAllocator);
          spillWriter = new ArrowStreamWriter(spillRoot, null, spillChannel);
          spillWriter.start();
          LOG.info("shuffle {} target {}: more than {} bytes in memory, spilling to {}", key.id(), key.target(),
              memoryLimit, spillFile);
        }
        new VectorLoader(spillRoot).load(batch);
        spillWriter.writeBatch();
        spillRoot.clear();
        spilledBatches++;
        spilled.addAndGet(size);
      } catch (IOException | RuntimeException e) {
        fail("insufficient memory: more than " + memoryLimit + " bytes arrived for it and spilling them to "
            + spillDir + " failed (" + e.getMessage() + ")");
        throw new QuiverException(ErrorCode.OUT_OF_MEMORY, "shuffle " + key.id() + " target " + key.target() + ": "
            + failure, e);
      }
    }

    synchronized void senderDone(int sender) {
      touched = System.nanoTime();
      done.add(sender);
      notifyAll();
    }

    synchronized void fail(String reason) {
      if (failure == null) {
        failure = reason;
      }
      notifyAll();
    }

    /** Waits for the schema (the first sender brings it); throws when the exchange fails first. */
    synchronized Schema awaitSchema(long deadline, BooleanSupplier cancelled) {
      while (schema == null) {
        await(deadline, cancelled);
        if (schema == null && done.size() == senders) {
          fail("no sender sent a schema");
        }
      }
      return schema;
    }

    /**
     * The next batch: from memory as it arrives, then (every sender done) from the spill file; null
     * at the end.
     */
    ArrowRecordBatch next(long deadline, BooleanSupplier cancelled) throws IOException {
      synchronized (this) {
        while (true) {
          touched = System.nanoTime();
          if (failure != null) {
            throw failed();
          }
          ArrowRecordBatch b = batches.poll();
          if (b != null) {
            long size = b.computeBodyLength();
            memoryBytes -= size;
            inMemory.addAndGet(-size);
            return b;
          }
          if (done.size() == senders) {
            break;
          }
          await(deadline, cancelled);
        }
        if (spillWriter == null) {
          return null;
        }
        if (spillReader == null) {
          spillWriter.end();
          spillChannel.position(0);
          spillReader = new ArrowStreamReader(spillChannel, spillAllocator);
        }
      }
      if (!spillReader.loadNextBatch()) {
        return null;
      }
      return new VectorUnloader(spillReader.getVectorSchemaRoot()).getRecordBatch();
    }

    private void await(long deadline, BooleanSupplier cancelled) {
      if (failure != null) {
        throw failed();
      }
      if (cancelled.getAsBoolean()) {
        fail("the query was cancelled");
        throw QuiverException.user(ErrorCode.QUERY_CANCELLED, "shuffle %s was cancelled", key.id());
      }
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        fail("timed out waiting for senders: " + done.size() + " of " + senders + " finished");
        throw failed();
      }
      try {
        wait(Math.max(1, Math.min(100, left / 1_000_000)));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        fail("interrupted");
        throw failed();
      }
    }

    private QuiverException failed() {
      return new QuiverException(failure.startsWith("insufficient memory") ? ErrorCode.OUT_OF_MEMORY
          : ErrorCode.REMOTE_ERROR, "shuffle " + key.id() + " (rows for part " + key.target() + "): " + failure);
    }

    /** Frees everything; later rows for this target are refused. */
    void close() {
      synchronized (this) {
        if (ended) {
          return;
        }
        ended = true;
        for (ArrowRecordBatch b : batches) {
          inMemory.addAndGet(-b.computeBodyLength());
          b.close();
        }
        batches.clear();
        memoryBytes = 0;
        notifyAll();
      }
      exchanges.remove(key, this);
      closed.put(key, System.nanoTime());
      closeQuietly(spillReader);
      closeQuietly(spillWriter);
      closeQuietly(spillRoot);
      closeQuietly(spillChannel);
      closeQuietly(spillAllocator);
      if (spillFile != null) {
        try {
          Files.deleteIfExists(spillFile);
        } catch (IOException e) {
          LOG.warn("could not delete spill file {}: {}", spillFile, e.getMessage());
        }
      }
    }

    long spilledBatches() {
      return spilledBatches;
    }
  }

  private static void closeQuietly(AutoCloseable c) {
    if (c == null) {
      return;
    }
    try {
      c.close();
    } catch (Exception e) {
      LOG.debug("closing {} failed: {}", c, e.toString());
    }
  }
}
