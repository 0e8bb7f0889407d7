package io.quiver.server.cli;

import java.math.BigDecimal;
import java.time.Instant;
import java.time.ZoneId;
import java.util.HexFormat;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.TimeMicroVector;
import org.apache.arrow.vector.TimeNanoVector;
import org.apache.arrow.vector.TimeStampVector;
import org.apache.arrow.vector.types.pojo.ArrowType;

/** Renders one Arrow value as text for the terminal. */
final class ValueFormatter {
  private ValueFormatter() {}

  static String format(FieldVector v, int row) {
    if (v.isNull(row)) {
      return "NULL";
    }
    if (v instanceof TimeStampVector ts && v.getField().getType() instanceof ArrowType.Timestamp t
        && t.getTimezone() != null) {
      long raw = ts.get(row);
      Instant i = switch (t.getUnit()) {
        case SECOND -> Instant.ofEpochSecond(raw);
        case MILLISECOND -> Instant.ofEpochMilli(raw);
        case MICROSECOND -> Instant.ofEpochSecond(Math.floorDiv(raw, 1_000_000L), Math.floorMod(raw, 1_000_000L) * 1000);
        case NANOSECOND -> Instant.ofEpochSecond(Math.floorDiv(raw, 1_000_000_000L), Math.floorMod(raw, 1_000_000_000L));
      };
      return i.atZone(ZoneId.of(t.getTimezone())).toOffsetDateTime().toString();
    }
    if (v instanceof TimeMicroVector tm) {
      return java.time.LocalTime.ofNanoOfDay(tm.get(row) * 1000).toString();
    }
    if (v instanceof TimeNanoVector tn) {
      return java.time.LocalTime.ofNanoOfDay(tn.get(row)).toString();
    }
    Object o = v.getObject(row);
    if (o instanceof byte[] bytes) {
      return "\\x" + HexFormat.of().formatHex(bytes);
    }
    if (o instanceof BigDecimal d) {
      return d.toPlainString();
    }
    return String.valueOf(o);
  }
}
