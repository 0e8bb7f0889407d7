package io.quiver.server.tpch;

import java.io.IOException;
import java.io.InputStream;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.List;

/**
 * The 22 TPC-H queries with the specification's validation parameters (Q15's view as a CTE; ties
 * in ORDER BY broken by a key where the specification leaves the order open, so results compare
 * row by row), and result comparison that tolerates floating-point noise in averages and ratios.
 */
public final class TpchQueries {
  public static final int COUNT = 22;

  private TpchQueries() {}

  /** Query {@code n} (1..22). */
  public static String query(int n) {
    String name = String.format("q%02d.sql", n);
    try (InputStream in = TpchQueries.class.getResourceAsStream(name)) {
      if (in == null) {
        throw new IllegalArgumentException("no TPC-H query " + n);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8).trim();
    } catch (IOException e) {
      throw new IllegalStateException("cannot read " + name, e);
    }
  }

  /** A result cell in a form both sides agree on: numbers as BigDecimal, dates as ISO text, the rest as text. */
  public static Object normalize(Object v) {
    if (v == null) {
      return null;
    }
    if (v instanceof BigDecimal d) {
      return d;
    }
    if (v instanceof Number n) {
      return n instanceof Double || n instanceof Float ? BigDecimal.valueOf(n.doubleValue()) : new BigDecimal(
          n.toString());
    }
    if (v instanceof LocalDateTime t && t.toLocalTime().equals(java.time.LocalTime.MIDNIGHT)) {
      return t.toLocalDate().toString();
    }
    if (v instanceof java.sql.Date d) {
      return d.toLocalDate().toString();
    }
    if (v instanceof LocalDate d) {
      return d.toString();
    }
    return v.toString();
  }

  /** Null when equal, else a description of the first difference. */
  public static String difference(List<List<Object>> expected, List<List<Object>> actual) {
    if (expected.size() != actual.size()) {
      return "expected " + expected.size() + " rows, got " + actual.size();
    }
    for (int r = 0; r < expected.size(); r++) {
      List<Object> e = expected.get(r);
      List<Object> a = actual.get(r);
      if (e.size() != a.size()) {
        return "row " + r + ": expected " + e.size() + " columns, got " + a.size();
      }
      for (int c = 0; c < e.size(); c++) {
        if (!same(normalize(e.get(c)), normalize(a.get(c)))) {
          return "row " + r + " column " + (c + 1) + ": expected " + e.get(c) + ", got " + a.get(c);
        }
      }
    }
    return null;
  }

  private static boolean same(Object e, Object a) {
    if (e == null || a == null) {
      return e == a;
    }
    if (e instanceof BigDecimal x && a instanceof BigDecimal y) {
      if (x.compareTo(y) == 0) {
        return true;
      }
      double dx = x.doubleValue();
      double dy = y.doubleValue();
      return Math.abs(dx - dy) <= 1e-9 * Math.max(1, Math.max(Math.abs(dx), Math.abs(dy)));
    }
    return e.equals(a);
  }

  /** Every row of a JDBC result. */
  public static List<List<Object>> rows(java.sql.ResultSet rs) throws java.sql.SQLException {
    List<List<Object>> out = new ArrayList<>();
    int columns = rs.getMetaData().getColumnCount();
    while (rs.next()) {
      List<Object> row = new ArrayList<>(columns);
      for (int c = 1; c <= columns; c++) {
        row.add(rs.getObject(c));
      }
      out.add(row);
    }
    return out;
  }
}
