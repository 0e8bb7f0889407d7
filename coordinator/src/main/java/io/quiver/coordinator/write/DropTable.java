package io.quiver.coordinator.write;

import io.quiver.coordinator.write.SqlTokens.Token;
import io.quiver.proto.QuiverException;
import java.util.List;
import java.util.Optional;

/** {@code DROP TABLE [IF EXISTS] [schema.]name}: the one DDL statement routed for distributed tables. */
public record DropTable(String schema, String table, boolean ifExists) {
  public static Optional<DropTable> of(String sql) {
    List<Token> t;
    try {
      t = SqlTokens.tokenize(sql);
    } catch (QuiverException e) {
      return Optional.empty();
    }
    if (t.size() < 3 || !t.get(0).is("drop") || !t.get(1).is("table")) {
      return Optional.empty();
    }
    int i = 2;
    boolean ifExists = false;
    if (i + 1 < t.size() && t.get(i).is("if") && t.get(i + 1).is("exists")) {
      ifExists = true;
      i += 2;
    }
    if (i >= t.size() || !t.get(i).isIdentifier()) {
      return Optional.empty();
    }
    String schema = null;
    String table = t.get(i).identifier();
    i++;
    if (i + 1 < t.size() && t.get(i).isSymbol(".") && t.get(i + 1).isIdentifier()) {
      schema = table;
      table = t.get(i + 1).identifier();
      i += 2;
    }
    // one table only; CASCADE/RESTRICT and a closing ';' are fine
    for (; i < t.size(); i++) {
      if (!(t.get(i).is("cascade") || t.get(i).is("restrict") || t.get(i).isSymbol(";"))) {
        return Optional.empty();
      }
    }
    return Optional.of(new DropTable(schema, table, ifExists));
  }
}
