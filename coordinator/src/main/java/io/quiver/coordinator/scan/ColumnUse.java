package io.quiver.coordinator.scan;

import io.quiver.coordinator.write.SqlTokens;
import io.quiver.coordinator.write.SqlTokens.Kind;
import io.quiver.coordinator.write.SqlTokens.Token;
import io.quiver.proto.QuiverException;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Which columns a statement can possibly use, for projection pushdown into table scans on other
 * nodes: every identifier it names (a superset, never too few). Empty when it may use every column
 * of a table: a {@code SELECT *} or {@code t.*} outside {@code EXISTS (SELECT * ...)}, a
 * {@code NATURAL} join, or text the lexer cannot read.
 */
public final class ColumnUse {
  private ColumnUse() {}

  /** The identifiers (folded like DuckDB folds them: unquoted ones to lower case), or empty for "all". */
  public static Optional<Set<String>> identifiers(String sql) {
    List<Token> tokens;
    try {
      tokens = SqlTokens.tokenize(sql);
    } catch (QuiverException e) {
      return Optional.empty();
    }
    Set<String> out = new HashSet<>();
    for (int i = 0; i < tokens.size(); i++) {
      Token t = tokens.get(i);
      if (t.is("natural") || t.is("columns") || t.is("exclude") || t.is("replace")) {
        return Optional.empty(); // implicit or pattern-based column lists
      }
      if (t.isSymbol("*") && i > 0) {
        Token prev = tokens.get(i - 1);
        boolean existsSelect = prev.is("select") && i >= 3 && tokens.get(i - 2).isSymbol("(")
            && tokens.get(i - 3).is("exists");
        if ((prev.is("select") || prev.is("distinct") || prev.isSymbol(".") || prev.isSymbol(",")) && !existsSelect) {
          return Optional.empty();
        }
      }
      if (t.kind() == Kind.WORD || t.kind() == Kind.QUOTED_IDENTIFIER) {
        out.add(t.identifier());
        out.add(t.text().toLowerCase(java.util.Locale.ROOT));
      }
    }
    return Optional.of(out);
  }
}
