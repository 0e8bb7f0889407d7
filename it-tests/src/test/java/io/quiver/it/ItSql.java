package io.quiver.it;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** SQL over the real JDBC driver against a node's Flight port, and bounded polling. */
final class ItSql {
  static final Duration BOUND = Duration.ofSeconds(30);

  private ItSql() {}

  static String url(int port) {
    return "jdbc:arrow-flight-sql://127.0.0.1:" + port + "/?useEncryption=false";
  }

  /** Every row, every column as text. */
  static List<List<String>> query(int port, String sql) throws SQLException {
    try (Connection c = DriverManager.getConnection(url(port)); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery(sql)) {
      List<List<String>> rows = new ArrayList<>();
      int cols = rs.getMetaData().getColumnCount();
      while (rs.next()) {
        List<String> row = new ArrayList<>();
        for (int i = 1; i <= cols; i++) {
          row.add(rs.getString(i));
        }
        rows.add(row);
      }
      return rows;
    }
  }

  /** The first column of the first row. */
  static String scalar(int port, String sql) throws SQLException {
    return query(port, sql).get(0).get(0);
  }

  static void update(int port, String sql) throws SQLException {
    try (Connection c = DriverManager.getConnection(url(port)); Statement s = c.createStatement()) {
      s.executeUpdate(sql);
    }
  }

  /**
   * Polls until the condition holds; returns the milliseconds it took. With {@code retrySqlErrors}
   * a failing query is polled again (a node may still be listed for a moment after it died).
   */
  static long eventually(String what, boolean retrySqlErrors, Callable<Boolean> condition) throws Exception {
    long start = System.nanoTime();
    while (System.nanoTime() - start < BOUND.toNanos()) {
      try {
        if (condition.call()) {
          return (System.nanoTime() - start) / 1_000_000;
        }
      } catch (SQLException e) {
        if (!retrySqlErrors) {
          throw e;
        }
      }
      Thread.sleep(100);
    }
    throw new AssertionError(what + " did not happen within " + BOUND.toSeconds() + " s");
  }
}
