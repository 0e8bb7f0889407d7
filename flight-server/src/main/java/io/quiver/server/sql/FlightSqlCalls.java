package io.quiver.server.sql;

import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.flight.FlightEndpoint;
import org.apache.arrow.flight.FlightInfo;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.flight.sql.FlightSqlClient;
import org.apache.arrow.vector.DateDayVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.util.Text;

/** Client-side helpers for the CLI and benchmarks: a query's rows over Flight SQL, read to the end. */
public final class FlightSqlCalls {
  private FlightSqlCalls() {}

  /** The first column of the first row as text (null when there is none); every endpoint is read to its end. */
  public static String firstValue(FlightSqlClient sql, String query) {
    List<List<Object>> rows = rows(sql, query);
    Object v = rows.isEmpty() || rows.get(0).isEmpty() ? null : rows.get(0).get(0);
    return v == null ? null : v.toString();
  }

  /** Every row of a query, cells as Java objects (text as String, DATE as LocalDate). */
  public static List<List<Object>> rows(FlightSqlClient sql, String query) {
    FlightInfo info = sql.execute(query);
    List<List<Object>> out = new ArrayList<>();
    for (FlightEndpoint e : info.getEndpoints()) {
      try (FlightStream stream = sql.getStream(e.getTicket())) {
        while (stream.next()) {
          VectorSchemaRoot root = stream.getRoot();
          for (int i = 0; i < root.getRowCount(); i++) {
            List<Object> row = new ArrayList<>();
            for (FieldVector v : root.getFieldVectors()) {
              Object o = v.getObject(i);
              if (o != null && v instanceof DateDayVector) {
                o = java.time.LocalDate.ofEpochDay((Integer) o); // Arrow hands out DATE as days since 1970
              }
              row.add(o instanceof Text text ? text.toString() : o);
            }
            out.add(row);
          }
        }
      } catch (RuntimeException ex) {
        throw ex;
      } catch (Exception ex) {
        throw new IllegalStateException("reading the result of " + query + " failed: " + ex.getMessage(), ex);
      }
    }
    return out;
  }
}
