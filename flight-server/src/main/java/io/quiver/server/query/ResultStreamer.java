package io.quiver.server.query;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import io.quiver.server.FlightErrors;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import org.apache.arrow.flight.FlightProducer.ServerStreamListener;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.ValueVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.dictionary.Dictionary;
import org.apache.arrow.vector.dictionary.DictionaryEncoder;
import org.apache.arrow.vector.ipc.ArrowReader;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * Streams one execution's result to a Flight client as DuckDB produces it: one batch in memory at
 * a time, sent only when the client's transport is ready (polled, never blocking a gRPC callback),
 * stopped between batches when the client goes away. Dictionary-encoded columns (DuckDB ENUM) are
 * sent as plain text.
 */
public final class ResultStreamer {
  private static final long READY_POLL_NANOS = TimeUnit.MICROSECONDS.toNanos(200);
  private static final long EXECUTION_POLL_MILLIS = 50;

  private ResultStreamer() {}

  public static void stream(QueryExecution exec, ServerStreamListener listener) {
    listener.setOnCancelHandler(() -> exec.cancel("the client cancelled the stream"));
    try {
      awaitExecution(exec, listener);
      switch (exec.kind()) {
        case ROWS -> streamRows(exec, listener);
        case UPDATE_COUNT -> streamUpdateCount(exec.updateCount(), exec.allocator(), listener);
        case NOTHING -> {
          try (VectorSchemaRoot empty = VectorSchemaRoot.create(new Schema(List.of()), exec.allocator())) {
            listener.start(empty);
            listener.completed();
          }
        }
      }
      exec.state().finish();
    } catch (Throwable t) {
      QuiverException q = exec.state().failure() != null ? exec.state().failure() : FlightErrors.toQuiver(t);
      exec.state().fail(q);
      if (!listener.isCancelled()) {
        listener.error(FlightErrors.toFlight(q));
      }
    }
  }

  /** Waits for DuckDB to produce the first rows, giving up when the client leaves. */
  private static void awaitExecution(QueryExecution exec, ServerStreamListener listener) throws Exception {
    awaitExecution(exec, listener, "the client cancelled the stream");
  }

  /**
   * Waits for DuckDB to produce the first rows of {@code exec}; when {@code listener}'s call is
   * cancelled meanwhile, cancels the query with {@code reason} and throws its failure.
   */
  static void awaitExecution(QueryExecution exec, ServerStreamListener listener, String reason) throws Exception {
    while (true) {
      try {
        exec.executed().get(EXECUTION_POLL_MILLIS, TimeUnit.MILLISECONDS);
        return;
      } catch (TimeoutException e) {
        if (listener.isCancelled()) {
          exec.cancel(reason);
          exec.state().checkNotAborted();
        }
      } catch (ExecutionException e) {
        throw e.getCause() instanceof Exception c ? c : e;
      }
    }
  }

  private static void streamRows(QueryExecution exec, ServerStreamListener listener) throws Exception {
    ArrowReader reader = exec.reader();
    VectorSchemaRoot source;
    Map<Long, Dictionary> dictionaries;
    synchronized (exec.resourceLock()) {
      exec.state().checkNotAborted();
      source = reader.getVectorSchemaRoot();
      dictionaries = reader.getDictionaryVectors();
    }
    boolean decode = source.getSchema().getFields().stream().anyMatch(f -> f.getDictionary() != null);
    try (VectorSchemaRoot decoded = decode ? VectorSchemaRoot.create(plainSchema(source.getSchema()), exec.allocator())
        : null) {
      VectorSchemaRoot out = decode ? decoded : source;
      listener.start(out);
      while (true) {
        synchronized (exec.resourceLock()) {
          stopIfEnded(exec);
          if (!reader.loadNextBatch()) {
            break;
          }
          if (decode) {
            decodeInto(source, dictionaries, decoded, exec.allocator());
          }
        }
        awaitReady(exec, listener);
        synchronized (exec.resourceLock()) {
          stopIfEnded(exec);
          listener.putNext();
        }
      }
      listener.completed();
    }
  }

  /** Sends a finished update's row count as a one-row {@code Count} result. */
  public static void streamUpdateCount(long updateCount, BufferAllocator allocator, ServerStreamListener listener) {
    try (VectorSchemaRoot root = VectorSchemaRoot.create(QueryExecution.UPDATE_COUNT_SCHEMA, allocator)) {
      BigIntVector count = (BigIntVector) root.getVector(0);
      count.allocateNew(1);
      count.set(0, updateCount);
      root.setRowCount(1);
      listener.start(root);
      listener.putNext();
      listener.completed();
    }
  }

  private static void stopIfEnded(QueryExecution exec) {
    if (exec.isReleased()) {
      exec.state().checkNotAborted();
      throw new QuiverException(ErrorCode.QUERY_CANCELLED, "query " + exec.state().queryId() + " ended");
    }
  }

  private static void awaitReady(QueryExecution exec, ServerStreamListener listener) {
    while (!listener.isReady()) {
      if (listener.isCancelled()) {
        exec.cancel("the client cancelled the stream");
        exec.state().checkNotAborted();
      }
      LockSupport.parkNanos(READY_POLL_NANOS);
    }
    if (listener.isCancelled()) {
      exec.cancel("the client cancelled the stream");
      exec.state().checkNotAborted();
    }
  }

  /** The schema clients see: dictionary-encoded (ENUM) columns become text. */
  public static Schema plainSchema(Schema schema) {
    List<Field> fields = new ArrayList<>();
    for (Field f : schema.getFields()) {
      fields.add(f.getDictionary() == null ? f
          : new Field(f.getName(), new FieldType(f.isNullable(), ArrowType.Utf8.INSTANCE, null, f.getMetadata()), null));
    }
    return new Schema(fields, schema.getCustomMetadata());
  }

  private static void decodeInto(VectorSchemaRoot source, Map<Long, Dictionary> dictionaries, VectorSchemaRoot out,
      BufferAllocator allocator) {
    List<FieldVector> in = source.getFieldVectors();
    for (int i = 0; i < in.size(); i++) {
      FieldVector v = in.get(i);
      FieldVector target = out.getVector(i);
      if (v.getField().getDictionary() == null) {
        v.makeTransferPair(target).transfer();
      } else {
        Dictionary dict = dictionaries.get(v.getField().getDictionary().getId());
        try (ValueVector values = DictionaryEncoder.decode(v, dict, allocator)) {
          values.makeTransferPair(target).transfer();
        }
      }
    }
    out.setRowCount(source.getRowCount());
  }
}
