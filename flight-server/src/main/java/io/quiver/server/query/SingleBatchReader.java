package io.quiver.server.query;

import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.VectorUnloader;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.apache.arrow.vector.ipc.message.ArrowRecordBatch;
import org.apache.arrow.vector.types.pojo.Schema;

/** One filled batch as an ArrowReader (for the C data interface); the batch stays its owner's. */
public final class SingleBatchReader extends ArrowReader {
  private final VectorSchemaRoot batch;
  private boolean done;

  public SingleBatchReader(BufferAllocator allocator, VectorSchemaRoot batch) {
    super(allocator);
    this.batch = batch;
  }

  @Override
  public boolean loadNextBatch() {
    if (done) {
      return false;
    }
    done = true;
    try (ArrowRecordBatch unloaded = new VectorUnloader(batch).getRecordBatch()) {
      loadRecordBatch(unloaded);
    }
    return true;
  }

  @Override
  public long bytesRead() {
    return 0;
  }

  @Override
  protected void closeReadSource() {
    // the batch belongs to the caller
  }

  @Override
  protected Schema readSchema() {
    return batch.getSchema();
  }
}
