package io.quiver.shuffle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QueryId;
import io.quiver.proto.QuiverException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.arrow.flight.FlightClient;
import org.apache.arrow.flight.FlightServer;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.flight.Location;
import org.apache.arrow.flight.NoOpFlightProducer;
import org.apache.arrow.flight.PutResult;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Shuffles between three real Flight servers on loopback: every row arrives exactly once, equal
 * keys meet on one target, a shuffle larger than memory spills and still finishes, and a failing
 * sender, a silent sender and a refusing disk each end the readers with a clear reason.
 */
class ShuffleTest {
  private static final Schema SCHEMA = new Schema(List.of(
      Field.nullable("id", new ArrowType.Int(64, true)),
      Field.nullable("name", new ArrowType.Utf8()),
      Field.nullable("bucket", new ArrowType.Int(32, true))));

  @TempDir Path dir;
  private BufferAllocator root;
  private final List<FlightServer> servers = new ArrayList<>();
  private final List<ShuffleBuffers> buffers = new ArrayList<>();
  private final List<FlightClient> clients = new ArrayList<>();
  private final ExecutorService pool = Executors.newFixedThreadPool(6);

  @BeforeEach
  void start() {
    root = new RootAllocator();
  }

  private void nodes(int n, long exchangeBytes, Path spill) throws IOException {
    for (int i = 0; i < n; i++) {
      ShuffleBuffers b = new ShuffleBuffers(root.newChildAllocator("node" + i, 0, Long.MAX_VALUE),
          new ShuffleConfig(spill, Long.MAX_VALUE, exchangeBytes, 1000, 1 << 20, Duration.ofMinutes(1), Duration.ofMinutes(1),
          Duration.ofMinutes(1)));
      buffers.add(b);
      if (serverTransport == null) {
        serverTransport = root.newChildAllocator("server-transport", 0, Long.MAX_VALUE);
      }
      FlightServer s = FlightServer.builder(serverTransport, Location.forGrpcInsecure("127.0.0.1", 0),
          new NoOpFlightProducer() {
        @Override
        public Runnable acceptPut(CallContext context, FlightStream stream, StreamListener<PutResult> ack) {
          return () -> {
            b.accept(ShuffleDescriptor.of(stream.getDescriptor()).orElseThrow(), stream);
            ack.onCompleted();
          };
        }
      }).build().start();
      servers.add(s);
      clients.add(FlightClient.builder(root, Location.forGrpcInsecure("127.0.0.1", s.getPort())).build());
    }
  }

  /** The allocator of a sender whose streams are cancelled (see aFailingSenderFailsTheReadersWithItsReason). */
  private BufferAllocator cancelledSender;
  /** The Flight servers' allocator (what their transport reads incoming batches into). */
  private BufferAllocator serverTransport;

  @AfterEach
  void stop() throws Exception {
    pool.shutdownNow();
    for (FlightClient c : clients) {
      c.close();
    }
    for (FlightServer s : servers) {
      s.close();
    }
    for (ShuffleBuffers b : buffers) {
      b.close();
    }
    // a stream a failed sender cancelled may still be released by the server's transport; wait for it, bounded
    for (int i = 0; i < 100 && root.getAllocatedMemory() > 0; i++) {
      Thread.sleep(50);
    }
    List<BufferAllocator> transport = new ArrayList<>();
    if (cancelledSender != null) {
      // at most one batch (1,000 rows, at most 1 MiB) gRPC held on either end when the stream was cancelled
      transport.add(cancelledSender);
      transport.add(serverTransport);
      for (BufferAllocator a : transport) {
        assertTrue(a.getAllocatedMemory() <= 1 << 20, a.getName() + " holds " + a.getAllocatedMemory() + " bytes");
      }
    }
    boolean held = transport.stream().anyMatch(a -> a.getAllocatedMemory() > 0);
    for (BufferAllocator a : root.getChildAllocators()) {
      if (!held || !transport.contains(a)) {
        a.close(); // fails on a leaked buffer
      }
    }
    if (!held) {
      root.close(); // fails on a leaked buffer
    }
  }

  private List<ShuffleWriter.Target> targets(ShuffleId id, int sender, int senders) {
    List<ShuffleWriter.Target> out = new ArrayList<>();
    for (int t = 0; t < clients.size(); t++) {
      out.add(new ShuffleWriter.Target(clients.get(t), new ShuffleDescriptor(id, t, sender, senders, 0, null)));
    }
    return out;
  }

  /** Reads everything target {@code t} receives: id → name, and the rows counted. */
  private Future<Map<Long, List<String>>> read(ShuffleId id, int t, int senders, Duration timeout,
      long[] spilledOut) {
    return pool.submit(() -> {
      Map<Long, List<String>> got = new HashMap<>();
      try (ShuffleReader r = buffers.get(t).open(id, t, senders, root, timeout, () -> false)) {
        while (r.loadNextBatch()) {
          VectorSchemaRoot b = r.getVectorSchemaRoot();
          assertEquals(List.of("id", "name"), b.getSchema().getFields().stream().map(Field::getName).toList());
          BigIntVector ids = (BigIntVector) b.getVector("id");
          VarCharVector names = (VarCharVector) b.getVector("name");
          for (int i = 0; i < b.getRowCount(); i++) {
            got.computeIfAbsent(ids.get(i), k -> new ArrayList<>()).add(names.isNull(i) ? null
                : new String(names.get(i), StandardCharsets.UTF_8));
          }
        }
        if (spilledOut != null) {
          spilledOut[t] = r.spilledBatches();
        }
      }
      return got;
    });
  }

  private Future<ShuffleWriter.Stats> send(ShuffleId id, int sender, int senders, ArrowReader input,
      Partitioner p) {
    return send(id, sender, senders, input, p, root);
  }

  private Future<ShuffleWriter.Stats> send(ShuffleId id, int sender, int senders, ArrowReader input,
      Partitioner p, BufferAllocator allocator) {
    return pool.submit(() -> {
      try (input) {
        return new ShuffleWriter(allocator, targets(id, sender, senders), p, 1000, 1 << 20, Duration.ofSeconds(30),
            () -> false).write(input, Set.of("bucket"));
      }
    });
  }

  @Test
  void everyRowArrivesOnceAndEqualKeysMeet() throws Exception {
    nodes(3, 64L << 20, dir);
    ShuffleId id = new ShuffleId(QueryId.random(), "x1");
    List<Future<Map<Long, List<String>>>> reads = new ArrayList<>();
    for (int t = 0; t < 3; t++) {
      reads.add(read(id, t, 3, Duration.ofSeconds(60), null));
    }
    // each sender has every id 0..29999 once (so equal keys come from three places), tagged with the sender
    List<Future<ShuffleWriter.Stats>> sends = new ArrayList<>();
    for (int s = 0; s < 3; s++) {
      sends.add(send(id, s, 3, new Rows(root, 30_000, 4096, s, -1), Partitioner.hash(List.of("id"), 3)));
    }
    long sent = 0;
    for (Future<ShuffleWriter.Stats> f : sends) {
      sent += f.get().totalRows();
    }
    assertEquals(90_000, sent);
    Map<Long, Integer> targetOf = new HashMap<>();
    long received = 0;
    for (int t = 0; t < 3; t++) {
      for (Map.Entry<Long, List<String>> e : reads.get(t).get().entrySet()) {
        Integer before = targetOf.put(e.getKey(), t);
        assertEquals(null, before, "key " + e.getKey() + " reached two targets");
        assertEquals(Set.of("s0-" + e.getKey(), "s1-" + e.getKey(), "s2-" + e.getKey()), Set.copyOf(e.getValue()));
        assertEquals(3, e.getValue().size());
        received += e.getValue().size();
      }
    }
    assertEquals(90_000, received);
    assertEquals(30_000, targetOf.size());
    for (int t = 0; t < 3; t++) {
      final int target = t;
      assertTrue(targetOf.values().stream().filter(v -> v == target).count() > 5_000, "target " + t + " got few keys");
    }
    assertEquals(0, buffers.stream().mapToLong(ShuffleBuffers::inMemoryBytes).sum());
    assertEquals(0, buffers.stream().mapToInt(ShuffleBuffers::openExchanges).sum());
  }

  @Test
  void bucketColumnRoutesAndNullBucketsGoNowhere() throws Exception {
    nodes(2, 64L << 20, dir);
    ShuffleId id = new ShuffleId(QueryId.random(), "buckets");
    Future<Map<Long, List<String>>> r0 = read(id, 0, 1, Duration.ofSeconds(60), null);
    Future<Map<Long, List<String>>> r1 = read(id, 1, 1, Duration.ofSeconds(60), null);
    // bucket = id % 4 (NULL when id % 7 == 0); buckets 0 and 2 → target 0, bucket 1 → target 1, bucket 3 → nowhere
    send(id, 0, 1, new Rows(root, 10_000, 1000, 0, 4), Partitioner.byBucketColumn("bucket", Map.of(0, 0, 2, 0, 1, 1)))
        .get();
    Map<Long, List<String>> at0 = r0.get();
    Map<Long, List<String>> at1 = r1.get();
    for (long i = 0; i < 10_000; i++) {
      boolean nullBucket = i % 7 == 0;
      long b = i % 4;
      assertEquals(!nullBucket && (b == 0 || b == 2), at0.containsKey(i), "id " + i);
      assertEquals(!nullBucket && b == 1, at1.containsKey(i), "id " + i);
    }
  }

  @Test
  void largerThanMemorySpillsAndFinishes() throws Exception {
    Path spill = dir.resolve("spill");
    nodes(2, 64 << 10, spill); // 64 KiB in memory per exchange
    ShuffleId id = new ShuffleId(QueryId.random(), "big");
    long[] spilled = new long[2];
    Future<Map<Long, List<String>>> r0 = read(id, 0, 2, Duration.ofSeconds(60), spilled);
    Future<Map<Long, List<String>>> r1 = read(id, 1, 2, Duration.ofSeconds(60), spilled);
    Future<ShuffleWriter.Stats> a = send(id, 0, 2, new Rows(root, 200_000, 8192, 0, -1),
        Partitioner.hash(List.of("id"), 2));
    Future<ShuffleWriter.Stats> b = send(id, 1, 2, new Rows(root, 200_000, 8192, 1, -1),
        Partitioner.hash(List.of("id"), 2));
    assertEquals(400_000, a.get().totalRows() + b.get().totalRows());
    long rows = r0.get().values().stream().mapToLong(List::size).sum() + r1.get().values().stream()
        .mapToLong(List::size).sum();
    assertEquals(400_000, rows);
    assertTrue(spilled[0] > 0 && spilled[1] > 0, "both targets spilled: " + spilled[0] + ", " + spilled[1]);
    assertTrue(buffers.get(0).spilledBytes() > 64 << 10);
    try (var files = Files.list(spill)) {
      assertEquals(0, files.count(), "spill files are deleted once read");
    }
  }

  @Test
  void aFailingSenderFailsTheReadersWithItsReason() throws Exception {
    nodes(2, 64L << 20, dir);
    ShuffleId id = new ShuffleId(QueryId.random(), "fails");
    Future<Map<Long, List<String>>> r0 = read(id, 0, 2, Duration.ofSeconds(60), null);
    Future<Map<Long, List<String>>> r1 = read(id, 1, 2, Duration.ofSeconds(60), null);
    send(id, 0, 2, new Rows(root, 5_000, 1000, 0, -1), Partitioner.hash(List.of("id"), 2)).get();
    // the failing sender cancels its streams; a batch gRPC still held for one of them when it was cancelled may never
    // be released to this allocator (apache/arrow-java#152, cancelled Flight streams): checked apart, see stop()
    cancelledSender = root.newChildAllocator("cancelled-sender", 0, Long.MAX_VALUE);
    Future<ShuffleWriter.Stats> bad = send(id, 1, 2, new Rows(root, 50_000, 1000, 1, -1, 20_000),
        Partitioner.hash(List.of("id"), 2), cancelledSender);
    Exception e = assertThrows(Exception.class, bad::get);
    assertTrue(e.getCause().getMessage().contains("disk read error at row 20000"), e.getCause().getMessage());
    for (Future<Map<Long, List<String>>> r : List.of(r0, r1)) {
      Exception re = assertThrows(Exception.class, r::get);
      assertTrue(re.getCause() instanceof QuiverException, re.getCause().toString());
      assertTrue(re.getCause().getMessage().contains("disk read error at row 20000"), re.getCause().getMessage());
    }
  }

  @Test
  void aSilentSenderTimesOut() throws Exception {
    nodes(1, 64L << 20, dir);
    ShuffleId id = new ShuffleId(QueryId.random(), "silent");
    Future<Map<Long, List<String>>> r = read(id, 0, 2, Duration.ofSeconds(2), null);
    send(id, 0, 2, new Rows(root, 100, 100, 0, -1), Partitioner.hash(List.of("id"), 1)).get();
    Exception e = assertThrows(Exception.class, r::get);
    assertTrue(e.getCause().getMessage().contains("timed out waiting for senders: 1 of 2 finished"),
        e.getCause().getMessage());
  }

  @Test
  void aRefusingDiskIsInsufficientMemory() throws Exception {
    Path notADirectory = Files.writeString(dir.resolve("file"), "x");
    nodes(1, 1024, notADirectory.resolve("spill"));
    ShuffleId id = new ShuffleId(QueryId.random(), "nodisk");
    Future<Map<Long, List<String>>> r = read(id, 0, 1, Duration.ofSeconds(60), null);
    Future<ShuffleWriter.Stats> s = send(id, 0, 1, new Rows(root, 50_000, 4096, 0, -1),
        Partitioner.hash(List.of("id"), 1));
    assertThrows(Exception.class, s::get);
    Exception e = assertThrows(Exception.class, r::get);
    QuiverException q = (QuiverException) e.getCause();
    assertEquals(ErrorCode.OUT_OF_MEMORY, q.errorCode());
    assertTrue(q.getMessage().contains("insufficient memory"), q.getMessage());
  }

  @Test
  void configDefaultsAndChecks() {
    ShuffleConfig d = ShuffleConfig.defaults(Path.of("/data"));
    assertEquals(Path.of("/data/tmp/shuffle"), d.spillDir());
    assertEquals(512L << 20, d.nodeMemoryBytes());
    assertEquals(64L << 20, d.exchangeMemoryBytes());
    assertEquals(65_536, d.batchRows());
    assertEquals(4L << 20, d.batchBytes());
    assertEquals(Duration.ofMinutes(10), d.readerWait());
    assertEquals(Duration.ofMinutes(2), d.senderStall());
    assertEquals(Duration.ofMinutes(10), d.idleExchange());
    assertThrows(QuiverException.class, () -> new ShuffleConfig(d.spillDir(), -1, 0, 1, 1024, d.readerWait(),
        d.senderStall(), d.idleExchange()));
    assertThrows(QuiverException.class, () -> new ShuffleConfig(d.spillDir(), 0, 0, 0, 1024, d.readerWait(),
        d.senderStall(), d.idleExchange()));
    assertThrows(QuiverException.class, () -> new ShuffleConfig(d.spillDir(), 0, 0, 1, 1024, Duration.ZERO,
        d.senderStall(), d.idleExchange()));
  }

  @Test
  void descriptorsRoundTripAndOthersAreNotShuffles() {
    ShuffleDescriptor d = new ShuffleDescriptor(new ShuffleId(QueryId.random(), "e_1"), 2, 1, 3, 1 << 20, null);
    assertEquals(d, ShuffleDescriptor.of(d.toFlight()).orElseThrow());
    assertEquals("boom", ShuffleDescriptor.of(d.failed("boom").toFlight()).orElseThrow().error());
    assertTrue(ShuffleDescriptor.of(org.apache.arrow.flight.FlightDescriptor.command(
        "{\"query\":\"SELECT 1\"}".getBytes(StandardCharsets.UTF_8))).isEmpty());
    assertTrue(ShuffleDescriptor.of(org.apache.arrow.flight.FlightDescriptor.path("t")).isEmpty());
    assertThrows(QuiverException.class, () -> new ShuffleId(QueryId.random(), "bad name"));
    assertThrows(QuiverException.class, () -> new ShuffleDescriptor(d.id(), 0, 3, 3, 0, null));
  }

  /**
   * Generated rows: id 0..n-1, name "s{sender}-{id}", bucket id % buckets (NULL when id % 7 == 0;
   * all NULL when buckets is -1); with {@code failAt} ≥ 0 it fails when it reaches that row.
   */
  static final class Rows extends ArrowReader {
    private final int n;
    private final int batch;
    private final int sender;
    private final int buckets;
    private final int failAt;
    private int next;

    Rows(BufferAllocator allocator, int n, int batch, int sender, int buckets) {
      this(allocator, n, batch, sender, buckets, -1);
    }

    Rows(BufferAllocator allocator, int n, int batch, int sender, int buckets, int failAt) {
      super(allocator);
      this.n = n;
      this.batch = batch;
      this.sender = sender;
      this.buckets = buckets;
      this.failAt = failAt;
    }

    @Override
    public boolean loadNextBatch() throws IOException {
      if (next >= n) {
        return false;
      }
      if (failAt >= 0 && next >= failAt) {
        throw new IOException("disk read error at row " + next);
      }
      VectorSchemaRoot r = getVectorSchemaRoot();
      r.allocateNew();
      BigIntVector ids = (BigIntVector) r.getVector("id");
      VarCharVector names = (VarCharVector) r.getVector("name");
      IntVector b = (IntVector) r.getVector("bucket");
      int count = Math.min(batch, n - next);
      for (int i = 0; i < count; i++) {
        long id = next + i;
        ids.setSafe(i, id);
        names.setSafe(i, ("s" + sender + "-" + id).getBytes(StandardCharsets.UTF_8));
        if (buckets < 0 || id % 7 == 0) {
          b.setNull(i);
        } else {
          b.setSafe(i, (int) (id % buckets));
        }
      }
      r.setRowCount(count);
      next += count;
      return true;
    }

    @Override
    public long bytesRead() {
      return 0;
    }

    @Override
    protected void closeReadSource() {}

    @Override
    protected Schema readSchema() {
      return SCHEMA;
    }
  }

}
