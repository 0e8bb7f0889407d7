package io.quiver.shuffle;

import io.quiver.catalog.engine.FunctionFailures;
import io.quiver.proto.QuiverException;
import java.io.IOException;
import java.time.Duration;
import java.util.function.BooleanSupplier;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.apache.arrow.vector.ipc.message.ArrowRecordBatch;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * The receiving half of a shuffle, for one target: an {@link ArrowReader} over every row the
 * senders push to it (the shape DuckDB scans through the C data interface). It yields batches as
 * they arrive and ends once every sender has finished; it fails with the reason a sender gave, on
 * cancellation, or when the senders stay silent longer than its timeout. Closing it frees what it
 * has not read and ends the exchange.
 */
public final class ShuffleReader extends ArrowReader {
  private final ShuffleBuffers.Exchange exchange;
  private final long deadline;
  private final BooleanSupplier cancelled;
  private long rows;

  ShuffleReader(BufferAllocator allocator, ShuffleBuffers.Exchange exchange, Duration timeout,
      BooleanSupplier cancelled) {
    super(allocator);
    this.exchange = exchange;
    this.deadline = System.nanoTime() + timeout.toNanos();
    this.cancelled = cancelled;
  }

  @Override
  public boolean loadNextBatch() throws IOException {
    prepareLoadNextBatch();
    ArrowRecordBatch batch = next();
    if (batch == null) {
      return false;
    }
    try (batch) {
      loadRecordBatch(batch);
    }
    rows += getVectorSchemaRoot().getRowCount();
    return true;
  }

  /** Rows read so far. */
  public long rows() {
    return rows;
  }

  /** Batches of this target that went to disk because memory was full. */
  public long spilledBatches() {
    return exchange.spilledBatches();
  }

  @Override
  public long bytesRead() {
    return 0;
  }

  @Override
  protected void closeReadSource() {
    exchange.close();
  }

  @Override
  protected Schema readSchema() throws IOException {
    try {
      return exchange.awaitSchema(deadline, cancelled);
    } catch (QuiverException e) {
      FunctionFailures.record(e); // DuckDB, scanning this, would only say the scan failed
      throw e;
    }
  }

  private ArrowRecordBatch next() throws IOException {
    try {
      return exchange.next(deadline, cancelled);
    } catch (QuiverException e) {
      FunctionFailures.record(e);
      throw e;
    }
  }
}
