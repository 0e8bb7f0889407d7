package io.quiver.server.query;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.vector.BaseIntVector;
import org.apache.arrow.vector.BitVector;
import org.apache.arrow.vector.DateDayVector;
import org.apache.arrow.vector.DateMilliVector;
import org.apache.arrow.vector.Decimal256Vector;
import org.apache.arrow.vector.DecimalVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.FixedSizeBinaryVector;
import org.apache.arrow.vector.Float2Vector;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.LargeVarBinaryVector;
import org.apache.arrow.vector.LargeVarCharVector;
import org.apache.arrow.vector.NullVector;
import org.apache.arrow.vector.TimeMicroVector;
import org.apache.arrow.vector.TimeMilliVector;
import org.apache.arrow.vector.TimeNanoVector;
import org.apache.arrow.vector.TimeSecVector;
import org.apache.arrow.vector.TimeStampVector;
import org.apache.arrow.vector.UInt1Vector;
import org.apache.arrow.vector.UInt2Vector;
import org.apache.arrow.vector.UInt4Vector;
import org.apache.arrow.vector.UInt8Vector;
import org.apache.arrow.vector.VarBinaryVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.ViewVarBinaryVector;
import org.apache.arrow.vector.ViewVarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;

/**
 * Turns parameter rows that clients bind over DoPut (Arrow record batches) into the Java values
 * DuckDB's JDBC driver binds. Types without a JDBC binding raise a clear "not supported yet".
 */
public final class ParameterValues {
  private ParameterValues() {}

  /** Copies every row of {@code root} out of Arrow memory. */
  public static List<List<Object>> rows(VectorSchemaRoot root) {
    List<List<Object>> out = new ArrayList<>(root.getRowCount());
    List<FieldVector> vectors = root.getFieldVectors();
    for (int r = 0; r < root.getRowCount(); r++) {
      List<Object> row = new ArrayList<>(vectors.size());
      for (FieldVector v : vectors) {
        row.add(value(v, r));
      }
      out.add(row);
    }
    return out;
  }

  static Object value(FieldVector v, int row) {
    if (v instanceof NullVector || v.isNull(row)) {
      return null;
    }
    if (v instanceof BitVector b) {
      return b.get(row) != 0;
    }
    if (v instanceof UInt1Vector u) {
      return (short) u.getValueAsLong(row);
    }
    if (v instanceof UInt2Vector u) {
      return (int) u.get(row);
    }
    if (v instanceof UInt4Vector u) {
      return u.getValueAsLong(row);
    }
    if (v instanceof UInt8Vector u) {
      return UInt8Vector.getNoOverflow(u.getDataBuffer(), row);
    }
    if (v instanceof BaseIntVector i) {
      Object o = v.getObject(row);
      return o instanceof Number ? o : i.getValueAsLong(row);
    }
    if (v instanceof Float2Vector f) {
      return f.getValueAsFloat(row);
    }
    if (v instanceof Float4Vector f) {
      return f.get(row);
    }
    if (v instanceof Float8Vector f) {
      return f.get(row);
    }
    if (v instanceof DecimalVector d) {
      return d.getObject(row);
    }
    if (v instanceof Decimal256Vector d) {
      return d.getObject(row);
    }
    if (v instanceof VarCharVector || v instanceof LargeVarCharVector || v instanceof ViewVarCharVector) {
      return v.getObject(row).toString();
    }
    if (v instanceof VarBinaryVector || v instanceof LargeVarBinaryVector || v instanceof ViewVarBinaryVector
        || v instanceof FixedSizeBinaryVector) {
      return v.getObject(row);
    }
    if (v instanceof DateDayVector d) {
      return LocalDate.ofEpochDay(d.get(row));
    }
    if (v instanceof DateMilliVector d) {
      return LocalDate.ofEpochDay(Math.floorDiv(d.get(row), 86_400_000L));
    }
    if (v instanceof TimeSecVector t) {
      return LocalTime.ofSecondOfDay(t.get(row));
    }
    if (v instanceof TimeMilliVector t) {
      return LocalTime.ofNanoOfDay(t.get(row) * 1_000_000L);
    }
    if (v instanceof TimeMicroVector t) {
      return LocalTime.ofNanoOfDay(t.get(row) * 1_000L);
    }
    if (v instanceof TimeNanoVector t) {
      return LocalTime.ofNanoOfDay(t.get(row));
    }
    if (v instanceof TimeStampVector ts) {
      return timestamp(ts, row);
    }
    Field f = v.getField();
    throw QuiverException.user(ErrorCode.NOT_SUPPORTED,
        "binding a parameter of Arrow type %s (parameter '%s') is not supported yet", f.getType(), f.getName());
  }

  private static Object timestamp(TimeStampVector v, int row) {
    ArrowType.Timestamp type = (ArrowType.Timestamp) v.getField().getType();
    long raw = v.get(row);
    long nanos;
    switch (type.getUnit()) {
      case SECOND: nanos = TimeUnit.SECONDS.toNanos(raw); break;
      case MILLISECOND: nanos = TimeUnit.MILLISECONDS.toNanos(raw); break;
      case MICROSECOND: nanos = TimeUnit.MICROSECONDS.toNanos(raw); break;
      default: nanos = raw; break;
    }
    Instant instant = Instant.ofEpochSecond(Math.floorDiv(nanos, 1_000_000_000L), Math.floorMod(nanos, 1_000_000_000L));
    if (type.getTimezone() == null) {
      return LocalDateTime.ofInstant(instant, ZoneOffset.UTC);
    }
    return OffsetDateTime.ofInstant(instant, ZoneOffset.UTC);
  }
}
