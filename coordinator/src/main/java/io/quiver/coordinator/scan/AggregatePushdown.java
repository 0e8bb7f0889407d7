package io.quiver.coordinator.scan;

import io.quiver.coordinator.write.SqlTokens;
import io.quiver.coordinator.write.SqlTokens.Kind;
import io.quiver.coordinator.write.SqlTokens.Token;
import io.quiver.proto.QuiverException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * Partial aggregation on the shards for the simplest aggregate shape: {@code SELECT <grouping
 * columns and aliased sum/count/min/max/avg> FROM <one table> [WHERE <condition without
 * subqueries>] [GROUP BY <columns>] [ORDER BY <output columns>] [LIMIT n]}. Each shard returns one
 * row per group (sums, counts, minima, maxima; an average as a sum and a count); the coordinator
 * combines them: sums of sums, sums of counts, min of minima, sum/count for averages. Any other
 * shape is left to the general path.
 */
public final class AggregatePushdown {
  private static final Set<String> AGGREGATES = Set.of("sum", "count", "min", "max", "avg");

  /** The rewrite: {@code partialSelect} and {@code partialTail} run on each shard, {@code finalSql} over their union. */
  public record Plan(String table, String partialSelect, String partialTail, String finalTemplate) {
    /** The combining query over the union of the shards' partial rows, named {@code partials}. */
    public String finalSql(String partials) {
      return finalTemplate.replace("{partials}", partials);
    }
  }

  private AggregatePushdown() {}

  public static Optional<Plan> of(String sql) {
    List<Token> t;
    try {
      t = SqlTokens.tokenize(sql);
    } catch (QuiverException e) {
      return Optional.empty();
    }
    if (!t.isEmpty() && t.get(t.size() - 1).isSymbol(";")) {
      t = t.subList(0, t.size() - 1);
    }
    if (t.size() < 4 || !t.get(0).is("select") || t.get(1).is("distinct")) {
      return Optional.empty();
    }
    int from = -1;
    int where = -1;
    int groupBy = -1;
    int orderBy = -1;
    int limit = -1;
    for (int i = 1; i < t.size(); i++) {
      Token k = t.get(i);
      if (k.kind() == Kind.PARAMETER) {
        return Optional.empty(); // parameters are bound on this node only
      }
      if (k.depth() != 0) {
        if (k.is("select")) {
          return Optional.empty(); // subqueries: not this shape
        }
        continue;
      }
      if (k.is("from") && from < 0) {
        from = i;
      } else if (k.is("where") && where < 0 && from > 0) {
        where = i;
      } else if (k.is("group") && i + 1 < t.size() && t.get(i + 1).is("by") && groupBy < 0) {
        groupBy = i;
      } else if (k.is("order") && i + 1 < t.size() && t.get(i + 1).is("by") && orderBy < 0) {
        orderBy = i;
      } else if (k.is("limit") && limit < 0) {
        limit = i;
      } else if (k.is("having") || k.is("union") || k.is("intersect") || k.is("except") || k.is("qualify")
          || k.is("window") || k.is("join") || k.is("offset") || k.is("select") || k.is("with") || k.is("over")
          || k.is("filter") || k.is("distinct")) {
        return Optional.empty();
      }
    }
    if (from < 0) {
      return Optional.empty();
    }
    // FROM: exactly one unqualified table name, no alias
    int fromEnd = firstOf(t.size(), where, groupBy, orderBy, limit);
    if (fromEnd != from + 2 || !t.get(from + 1).isIdentifier()) {
      return Optional.empty();
    }
    String table = t.get(from + 1).identifier();
    int whereEnd = firstOf(t.size(), groupBy, orderBy, limit);
    int groupEnd = firstOf(t.size(), orderBy, limit);
    if ((groupBy >= 0 && groupBy < where) || (orderBy >= 0 && (orderBy < groupBy || orderBy < where))
        || (limit >= 0 && limit < Math.max(orderBy, Math.max(groupBy, where)))) {
      return Optional.empty();
    }
    // GROUP BY: plain column names
    List<String> groups = new ArrayList<>();
    Set<String> groupSet = new LinkedHashSet<>();
    if (groupBy >= 0) {
      for (List<Token> item : split(t.subList(groupBy + 2, groupEnd))) {
        if (item.size() != 1 || !item.get(0).isIdentifier() || item.get(0).is("all")) {
          return Optional.empty();
        }
        groups.add(text(sql, item));
        groupSet.add(item.get(0).identifier().toLowerCase(Locale.ROOT));
      }
    }
    // the select list
    List<String> partial = new ArrayList<>();
    List<String> combined = new ArrayList<>();
    Set<String> outputs = new LinkedHashSet<>(groupSet);
    int n = 0;
    for (List<Token> item : split(t.subList(1, from))) {
      if (item.size() == 1 && item.get(0).isIdentifier()) {
        if (!groupSet.contains(item.get(0).identifier().toLowerCase(Locale.ROOT))) {
          return Optional.empty();
        }
        combined.add(text(sql, item));
        continue;
      }
      // fn ( args ) AS alias
      if (item.size() < 6 || !item.get(0).isIdentifier() || !item.get(1).isSymbol("(")
          || !AGGREGATES.contains(item.get(0).text().toLowerCase(Locale.ROOT))) {
        return Optional.empty();
      }
      int close = item.size() - 3;
      if (!item.get(close).isSymbol(")") || !item.get(close + 1).is("as") || !item.get(close + 2).isIdentifier()) {
        return Optional.empty();
      }
      List<Token> args = item.subList(2, close);
      for (int i = 0; i < args.size(); i++) {
        Token a = args.get(i);
        if (a.is("distinct") || a.kind() == Kind.PARAMETER || (a.kind() == Kind.WORD && i + 1 < args.size()
            && args.get(i + 1).isSymbol("(") && AGGREGATES.contains(a.text().toLowerCase(Locale.ROOT)))) {
          return Optional.empty();
        }
      }
      String fn = item.get(0).text().toLowerCase(Locale.ROOT);
      String arg = args.isEmpty() ? "" : text(sql, args);
      String alias = text(sql, List.of(item.get(close + 2)));
      outputs.add(item.get(close + 2).identifier().toLowerCase(Locale.ROOT));
      String p = "__quiver_p" + (n++);
      switch (fn) {
        case "sum", "min", "max" -> {
          partial.add(fn + "(" + arg + ") AS " + p);
          combined.add(fn + "(" + p + ") AS " + alias);
        }
        case "count" -> {
          partial.add("count(" + arg + ") AS " + p);
          combined.add("CAST(coalesce(sum(" + p + "), 0) AS BIGINT) AS " + alias);
        }
        default -> { // avg: a sum and a count per shard
          partial.add("sum(" + arg + ") AS " + p + "s");
          partial.add("count(" + arg + ") AS " + p + "c");
          combined.add("CAST(sum(" + p + "s) AS DOUBLE) / CAST(sum(" + p + "c) AS DOUBLE) AS " + alias);
        }
      }
    }
    if (partial.isEmpty()) {
      return Optional.empty();
    }
    // ORDER BY: output names or positions only
    if (orderBy >= 0) {
      for (List<Token> item : split(t.subList(orderBy + 2, limit >= 0 ? limit : t.size()))) {
        if (item.isEmpty()) {
          return Optional.empty();
        }
        Token first = item.get(0);
        boolean position = first.kind() == Kind.NUMBER;
        if (!position && !(first.isIdentifier() && outputs.contains(first.identifier().toLowerCase(Locale.ROOT)))) {
          return Optional.empty();
        }
        for (Token k : item.subList(1, item.size())) {
          if (!(k.is("asc") || k.is("desc") || k.is("nulls") || k.is("first") || k.is("last"))) {
            return Optional.empty();
          }
        }
      }
    }
    if (limit >= 0 && (limit + 2 != t.size() || t.get(limit + 1).kind() != Kind.NUMBER)) {
      return Optional.empty();
    }
    String groupList = String.join(", ", groups);
    List<String> partialItems = new ArrayList<>(groups);
    partialItems.addAll(partial);
    String tail = (where >= 0 ? " WHERE " + text(sql, t.subList(where + 1, whereEnd)) : "")
        + (groups.isEmpty() ? "" : " GROUP BY " + groupList);
    String finalSql = "SELECT " + String.join(", ", combined) + " FROM {partials}"
        + (groups.isEmpty() ? "" : " GROUP BY " + groupList)
        + (orderBy >= 0 ? " " + text(sql, t.subList(orderBy, t.size())) : limit >= 0 ? " " + text(sql,
            t.subList(limit, t.size())) : "");
    return Optional.of(new Plan(table, String.join(", ", partialItems), tail, finalSql));
  }

  private static int firstOf(int otherwise, int... positions) {
    int best = otherwise;
    for (int p : positions) {
      if (p >= 0 && p < best) {
        best = p;
      }
    }
    return best;
  }

  /** Splits a token run at its top-level commas. */
  private static List<List<Token>> split(List<Token> run) {
    List<List<Token>> out = new ArrayList<>();
    List<Token> current = new ArrayList<>();
    int base = run.isEmpty() ? 0 : run.get(0).depth();
    for (Token k : run) {
      if (k.isSymbol(",") && k.depth() == base) {
        out.add(current);
        current = new ArrayList<>();
      } else {
        current.add(k);
      }
    }
    out.add(current);
    return out;
  }

  /** The statement's own text from the first to the last token of a run. */
  private static String text(String sql, List<Token> run) {
    return sql.substring(run.get(0).start(), run.get(run.size() - 1).end());
  }
}
