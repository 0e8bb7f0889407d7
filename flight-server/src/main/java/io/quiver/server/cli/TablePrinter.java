package io.quiver.server.cli;

import java.io.PrintStream;
import java.util.List;

/** Prints rows as an aligned text table. */
final class TablePrinter {
  private TablePrinter() {}

  static void print(PrintStream out, List<String> header, List<List<String>> rows) {
    int[] width = new int[header.size()];
    for (int i = 0; i < header.size(); i++) {
      width[i] = header.get(i).length();
    }
    for (List<String> row : rows) {
      for (int i = 0; i < row.size(); i++) {
        width[i] = Math.max(width[i], row.get(i).length());
      }
    }
    StringBuilder rule = new StringBuilder("+");
    for (int w : width) {
      rule.append("-".repeat(w + 2)).append('+');
    }
    out.println(rule);
    out.println(line(header, width));
    out.println(rule);
    for (List<String> row : rows) {
      out.println(line(row, width));
    }
    out.println(rule);
  }

  private static String line(List<String> cells, int[] width) {
    StringBuilder b = new StringBuilder("|");
    for (int i = 0; i < cells.size(); i++) {
      String c = cells.get(i);
      b.append(' ').append(c).append(" ".repeat(width[i] - c.length())).append(" |");
    }
    return b.toString();
  }
}
