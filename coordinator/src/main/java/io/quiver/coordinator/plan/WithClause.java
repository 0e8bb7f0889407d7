package io.quiver.coordinator.plan;

import io.quiver.coordinator.write.SqlTokens;
import io.quiver.coordinator.write.SqlTokens.Token;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The common table expressions of a statement that starts with {@code WITH} (not {@code WITH
 * RECURSIVE}), found in its text: each one's name, optional column list and body, and the main
 * statement after them. {@link #without} gives the statement with some of them left out (once they
 * are temporary tables of the same name, say).
 *
 * @param ctes the common table expressions, in order
 * @param main the statement after the WITH list
 */
public record WithClause(List<Cte> ctes, String main) {
  /**
   * One common table expression.
   *
   * @param name its name, as the statement refers to it
   * @param columns its column list with the parentheses ({@code "(a, b)"}), or null
   * @param body the query in its parentheses
   * @param text the whole entry as written ({@code name [(columns)] AS [NOT] [MATERIALIZED] (body)})
   */
  public record Cte(String name, String columns, String body, String text) {}

  public WithClause {
    ctes = List.copyOf(ctes);
  }

  /** The WITH list of {@code sql}; empty when it does not start with a (non-recursive) WITH this reads. */
  public static Optional<WithClause> parse(String sql) {
    List<Token> t = SqlTokens.statement(sql).orElse(List.of());
    if (t.size() < 2 || !t.get(0).is("with") || t.get(1).is("recursive")) {
      return Optional.empty();
    }
    List<Cte> ctes = new ArrayList<>();
    int i = 1;
    while (true) {
      if (i >= t.size() || !t.get(i).isIdentifier()) {
        return Optional.empty();
      }
      int start = i;
      String name = t.get(i).identifier();
      i++;
      String columns = null;
      if (i < t.size() && t.get(i).isSymbol("(")) {
        int close = SqlTokens.matching(t, i);
        if (close < 0) {
          return Optional.empty();
        }
        columns = sql.substring(t.get(i).start(), t.get(close).end());
        i = close + 1;
      }
      if (i >= t.size() || !t.get(i).is("as")) {
        return Optional.empty();
      }
      i++;
      if (i < t.size() && t.get(i).is("not")) {
        i++;
      }
      if (i < t.size() && t.get(i).is("materialized")) {
        i++;
      }
      if (i >= t.size() || !t.get(i).isSymbol("(")) {
        return Optional.empty();
      }
      int close = SqlTokens.matching(t, i);
      if (close < 0 || close == i + 1) {
        return Optional.empty();
      }
      ctes.add(new Cte(name, columns, sql.substring(t.get(i + 1).start(), t.get(close - 1).end()),
          sql.substring(t.get(start).start(), t.get(close).end())));
      i = close + 1;
      if (i < t.size() && t.get(i).isSymbol(",")) {
        i++;
        continue;
      }
      if (i >= t.size()) {
        return Optional.empty();
      }
      return Optional.of(new WithClause(ctes, sql.substring(t.get(i).start(), t.get(t.size() - 1).end())));
    }
  }

  /** The statement without the common table expressions named in {@code names} (as parsed). */
  public String without(Set<String> names) {
    List<String> kept = ctes.stream().filter(c -> !names.contains(c.name())).map(Cte::text).toList();
    return kept.isEmpty() ? main : "WITH " + String.join(", ", kept) + " " + main;
  }
}
