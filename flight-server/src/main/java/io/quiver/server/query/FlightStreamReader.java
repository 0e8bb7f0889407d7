package io.quiver.server.query;

import java.io.IOException;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorUnloader;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.apache.arrow.vector.ipc.message.ArrowRecordBatch;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * Presents a Flight stream (a DoPut from a client, or a DoGet from another node) as an
 * ArrowReader, the shape the C data interface exports to DuckDB. Batches are pulled as DuckDB
 * scans; the stream itself belongs to the caller. With a {@code null} stream it is an empty
 * result of the given schema (used to describe a statement without fetching data).
 */
public final class FlightStreamReader extends ArrowReader {
  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(FlightStreamReader.class);
  private final FlightStream stream;
  private final Schema schema;
  private long rows;

  public FlightStreamReader(BufferAllocator allocator, FlightStream stream) {
    this(allocator, stream, null);
  }

  private FlightStreamReader(BufferAllocator allocator, FlightStream stream, Schema schema) {
    super(allocator);
    this.stream = stream;
    this.schema = schema;
  }

  public static FlightStreamReader empty(BufferAllocator allocator, Schema schema) {
    return new FlightStreamReader(allocator, null, schema);
  }

  @Override
  public boolean loadNextBatch() throws IOException {
    try {
      prepareLoadNextBatch();
      if (stream == null || !stream.next()) {
        return false;
      }
      try (ArrowRecordBatch batch = new VectorUnloader(stream.getRoot()).getRecordBatch()) {
        loadRecordBatch(batch);
      }
      rows += stream.getRoot().getRowCount();
      return true;
    } catch (IOException | RuntimeException e) {
      // DuckDB only sees a failed scan; say here what failed
      LOG.warn("reading an incoming Arrow stream failed after {} rows: {}", rows, e.toString());
      io.quiver.catalog.engine.FunctionFailures.record(new io.quiver.proto.QuiverException(
          io.quiver.proto.ErrorCode.REMOTE_ERROR, "reading a remote Arrow stream failed after " + rows + " rows: "
          + e.getMessage()));
      throw e;
    }
  }

  /** Rows read so far. */
  public long rows() {
    return rows;
  }

  @Override
  public long bytesRead() {
    return 0;
  }

  @Override
  protected void closeReadSource() {
    // the FlightStream belongs to the caller
  }

  @Override
  protected Schema readSchema() {
    return stream == null ? schema : stream.getSchema();
  }
}
