package io.quiver.coordinator.write;

import io.quiver.coordinator.write.SqlTokens.Kind;
import io.quiver.coordinator.write.SqlTokens.Token;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * What a write statement writes to: its kind, its target table and where the target's name sits in
 * the text, so that the statement can be re-aimed at a staging table or a shard without parsing the
 * rest of it. For {@code UPDATE} also the assigned columns and the top-level {@code WHERE} clause.
 */
public final class WriteStatement {
  /** The statements routed to the shards of a distributed table. */
  public enum Type {
    INSERT,
    UPDATE,
    DELETE,
    COPY_FROM
  }

  private final String sql;
  private final List<Token> tokens;
  private final Type type;
  private final String schema;
  private final String table;
  private final int targetStart;
  private final int targetEnd;
  private final boolean aliased;
  private final String alias;
  private final Set<String> assignedColumns;
  private final String setClause;
  private final String whereClause;
  private final List<String> unsupported;

  private WriteStatement(String sql, List<Token> tokens, Type type, String schema, String table, int targetStart,
      int targetEnd, boolean aliased, Set<String> assignedColumns, String setClause, String whereClause,
      List<String> unsupported) {
    this.sql = sql;
    this.tokens = tokens;
    this.type = type;
    this.schema = schema;
    this.table = table;
    this.targetStart = targetStart;
    this.targetEnd = targetEnd;
    this.aliased = aliased;
    this.alias = aliased ? aliasAfter(tokens, targetEnd) : table;
    this.assignedColumns = assignedColumns;
    this.setClause = setClause;
    this.whereClause = whereClause;
    this.unsupported = unsupported;
  }

  /** The write this statement is, or empty for anything else (queries, DDL, {@code COPY ... TO}). */
  public static Optional<WriteStatement> of(String sql) {
    List<Token> tokens;
    try {
      tokens = SqlTokens.tokenize(sql);
    } catch (QuiverException e) {
      return Optional.empty(); // DuckDB reports the syntax error itself
    }
    int i = statementStart(tokens);
    if (i < 0) {
      return Optional.empty();
    }
    Token head = tokens.get(i);
    List<String> unsupported = new ArrayList<>();
    if (i > 0) {
      unsupported.add("a WITH clause before " + head.text().toUpperCase(Locale.ROOT));
    }
    if (head.is("insert")) {
      int j = i + 1;
      if (j < tokens.size() && tokens.get(j).is("or")) {
        unsupported.add("INSERT OR " + (j + 1 < tokens.size() ? tokens.get(j + 1).text().toUpperCase(Locale.ROOT) : ""));
        j += 2;
      }
      if (j >= tokens.size() || !tokens.get(j).is("into")) {
        return Optional.empty();
      }
      Name name = name(tokens, j + 1);
      if (name == null) {
        return Optional.empty();
      }
      flag(tokens, name.next, unsupported, "on", "ON CONFLICT");
      flag(tokens, name.next, unsupported, "returning", "RETURNING");
      return Optional.of(new WriteStatement(sql, tokens, Type.INSERT, name.schema, name.table, name.start, name.end,
          false, Set.of(), null, null, unsupported));
    }
    if (head.is("copy")) {
      Name name = name(tokens, i + 1);
      if (name == null) {
        return Optional.empty();
      }
      int j = name.next;
      if (j < tokens.size() && tokens.get(j).isSymbol("(")) {
        j = closing(tokens, j) + 1;
      }
      if (j >= tokens.size() || !tokens.get(j).is("from")) {
        return Optional.empty();
      }
      return Optional.of(new WriteStatement(sql, tokens, Type.COPY_FROM, name.schema, name.table, name.start,
          name.end, false, Set.of(), null, null, unsupported));
    }
    if (head.is("delete")) {
      if (i + 1 >= tokens.size() || !tokens.get(i + 1).is("from")) {
        return Optional.empty();
      }
      Name name = name(tokens, i + 2);
      if (name == null) {
        return Optional.empty();
      }
      int j = name.next;
      boolean aliased = j < tokens.size() && (tokens.get(j).is("as") || (tokens.get(j).isIdentifier()
          && !tokens.get(j).is("where") && !tokens.get(j).is("using") && !tokens.get(j).is("returning")));
      flag(tokens, j, unsupported, "returning", "RETURNING");
      return Optional.of(new WriteStatement(sql, tokens, Type.DELETE, name.schema, name.table, name.start, name.end,
          aliased, Set.of(), null, where(sql, tokens, j), unsupported));
    }
    if (head.is("update")) {
      Name name = name(tokens, i + 1);
      if (name == null) {
        return Optional.empty();
      }
      int j = name.next;
      boolean aliased = j < tokens.size() && !tokens.get(j).is("set");
      while (j < tokens.size() && !(tokens.get(j).is("set") && tokens.get(j).depth() == 0)) {
        j++;
      }
      if (j >= tokens.size()) {
        return Optional.empty();
      }
      Set<String> assigned = new LinkedHashSet<>();
      int setStart = j + 1;
      int setEnd = setStart;
      boolean expectColumn = true;
      for (int k = setStart; k < tokens.size(); k++) {
        Token t = tokens.get(k);
        if (t.depth() == 0 && (t.is("from") || t.is("where") || t.is("returning"))) {
          if (t.is("from")) {
            unsupported.add("UPDATE ... FROM");
          }
          break;
        }
        setEnd = k + 1;
        if (t.depth() == 0 && t.isSymbol(",")) {
          expectColumn = true;
        } else if (expectColumn && t.depth() == 0 && t.isIdentifier()) {
          assigned.add(t.identifier());
          expectColumn = false;
        } else if (expectColumn && t.isSymbol("(") && t.depth() == 0) {
          for (int m = k + 1; m < tokens.size() && tokens.get(m).depth() > 0; m++) {
            if (tokens.get(m).isIdentifier()) {
              assigned.add(tokens.get(m).identifier());
            }
          }
          expectColumn = false;
        } else if (t.depth() == 0) {
          expectColumn = false;
        }
      }
      flag(tokens, setEnd, unsupported, "returning", "RETURNING");
      String set = setEnd > setStart ? sql.substring(tokens.get(setStart).start(), tokens.get(setEnd - 1).end()) : "";
      return Optional.of(new WriteStatement(sql, tokens, Type.UPDATE, name.schema, name.table, name.start, name.end,
          aliased, assigned, set, where(sql, tokens, setEnd), unsupported));
    }
    return Optional.empty();
  }

  /** The alias following the target name ({@code t AS x} or {@code t x}). */
  private static String aliasAfter(List<Token> tokens, int targetEnd) {
    for (int k = 0; k < tokens.size(); k++) {
      if (tokens.get(k).start() >= targetEnd) {
        Token t = tokens.get(k).is("as") && k + 1 < tokens.size() ? tokens.get(k + 1) : tokens.get(k);
        return t.identifier();
      }
    }
    return null;
  }

  /** The first top-level INSERT/UPDATE/DELETE/COPY keyword, after an optional WITH clause. */
  private static int statementStart(List<Token> tokens) {
    if (tokens.isEmpty()) {
      return -1;
    }
    Token first = tokens.get(0);
    if (first.is("insert") || first.is("update") || first.is("delete") || first.is("copy")) {
      return 0;
    }
    if (!first.is("with")) {
      return -1;
    }
    for (int i = 1; i < tokens.size(); i++) {
      Token t = tokens.get(i);
      if (t.depth() == 0 && (t.is("select") || t.is("from") || t.is("values"))) {
        return -1;
      }
      if (t.depth() == 0 && (t.is("insert") || t.is("update") || t.is("delete"))) {
        return i;
      }
    }
    return -1;
  }

  private record Name(String schema, String table, int start, int end, int next) {}

  /** A possibly qualified table name starting at token {@code i}. */
  private static Name name(List<Token> tokens, int i) {
    List<Token> parts = new ArrayList<>();
    int j = i;
    while (j < tokens.size() && tokens.get(j).isIdentifier()) {
      parts.add(tokens.get(j));
      if (j + 1 < tokens.size() && tokens.get(j + 1).isSymbol(".")) {
        j += 2;
      } else {
        j++;
        break;
      }
    }
    if (parts.isEmpty() || parts.size() > 3) {
      return null;
    }
    String schema = parts.size() >= 2 ? parts.get(parts.size() - 2).identifier() : null;
    return new Name(schema, parts.get(parts.size() - 1).identifier(), parts.get(0).start(),
        parts.get(parts.size() - 1).end(), j);
  }

  private static int closing(List<Token> tokens, int open) {
    int depth = tokens.get(open).depth();
    for (int k = open + 1; k < tokens.size(); k++) {
      if (tokens.get(k).isSymbol(")") && tokens.get(k).depth() == depth) {
        return k;
      }
    }
    return tokens.size() - 1;
  }

  private static void flag(List<Token> tokens, int from, List<String> unsupported, String keyword, String what) {
    for (int k = from; k < tokens.size(); k++) {
      if (tokens.get(k).depth() == 0 && tokens.get(k).is(keyword)
          && (!keyword.equals("on") || (k + 1 < tokens.size() && tokens.get(k + 1).is("conflict")))) {
        unsupported.add(what);
        return;
      }
    }
  }

  /** The text of the top-level WHERE condition (without the keyword), or null when there is none. */
  private static String where(String sql, List<Token> tokens, int from) {
    for (int k = from; k < tokens.size(); k++) {
      Token t = tokens.get(k);
      if (t.depth() == 0 && t.is("where")) {
        int end = sql.length();
        for (int m = k + 1; m < tokens.size(); m++) {
          if (tokens.get(m).depth() == 0 && (tokens.get(m).is("returning") || tokens.get(m).isSymbol(";"))) {
            end = tokens.get(m).start();
            break;
          }
        }
        return k + 1 < tokens.size() ? sql.substring(tokens.get(k + 1).start(), end).trim() : null;
      }
    }
    return null;
  }

  public Type type() {
    return type;
  }

  /** The target's schema as written, or null when unqualified. */
  public String schema() {
    return schema;
  }

  /** The target table's name (unquoted names folded to lower case). */
  public String table() {
    return table;
  }

  public String sql() {
    return sql;
  }

  /** The name the statement uses for its target: its alias, else the table's name. */
  public String alias() {
    return alias;
  }

  /** Columns an UPDATE assigns (folded like identifiers). */
  public Set<String> assignedColumns() {
    return assignedColumns;
  }

  /** The assignments of an UPDATE, as written (without {@code SET}). */
  public String setClause() {
    return setClause;
  }

  /** The top-level WHERE condition of an UPDATE or DELETE, or null. */
  public String whereClause() {
    return whereClause;
  }

  /** Parts of the statement that cannot be routed to shards yet; empty when it can. */
  public List<String> unsupported() {
    return unsupported;
  }

  /**
   * The statement aimed at {@code newTarget} (already quoted). UPDATE and DELETE keep the original
   * name as an alias, so references such as {@code t.x} still resolve.
   */
  public String retarget(String newTarget) {
    String alias = (type == Type.UPDATE || type == Type.DELETE) && !aliased ? " AS " + quote(table) : "";
    return sql.substring(0, targetStart) + newTarget + alias + sql.substring(targetEnd);
  }

  /**
   * For {@code INSERT INTO t [(cols)] VALUES (<one row of expressions>)}: the statement aimed at
   * {@code newTarget} as {@code INSERT ... SELECT <the row> FROM <rows>}, with the n-th parameter
   * marker replaced by column {@code p<n>} of {@code rows} (aliased {@code __p}). This runs a whole
   * batch of bound parameter rows as one set-oriented statement. Empty for any other shape.
   */
  public Optional<String> asInsertSelect(String newTarget, String rows, int rowColumns) {
    if (type != Type.INSERT || !unsupported.isEmpty()) {
      return Optional.empty();
    }
    int k = 0;
    while (k < tokens.size() && tokens.get(k).end() <= targetEnd) {
      k++;
    }
    int columnsEnd = targetEnd;
    if (k < tokens.size() && tokens.get(k).isSymbol("(")) {
      k = closing(tokens, k);
      columnsEnd = tokens.get(k).end();
      k++;
    }
    if (k + 1 >= tokens.size() || !tokens.get(k).is("values") || !tokens.get(k + 1).isSymbol("(")) {
      return Optional.empty();
    }
    int open = k + 1;
    int close = closing(tokens, open);
    if (close == tokens.size() - 1 ? !tokens.get(close).isSymbol(")")
        : !(close == tokens.size() - 2 && tokens.get(close + 1).isSymbol(";"))) {
      return Optional.empty(); // several rows, or something after the row
    }
    StringBuilder row = new StringBuilder();
    int at = tokens.get(open).end();
    int next = 0;
    for (int m = open + 1; m < close; m++) {
      Token t = tokens.get(m);
      if (t.kind() != Kind.PARAMETER) {
        continue;
      }
      int index = t.text().equals("?") ? next++ : Integer.parseInt(t.text().substring(1)) - 1;
      if (index < 0 || index >= rowColumns) {
        return Optional.empty();
      }
      row.append(sql, at, t.start()).append("__p.p").append(index + 1);
      at = t.end();
    }
    row.append(sql, at, tokens.get(close).start());
    StringBuilder aliases = new StringBuilder();
    for (int c = 1; c <= rowColumns; c++) {
      aliases.append(c == 1 ? "" : ", ").append('p').append(c);
    }
    return Optional.of(sql.substring(0, targetStart) + newTarget + sql.substring(targetEnd, columnsEnd)
        + " SELECT " + row + " FROM " + rows + " AS __p(" + aliases + ")");
  }

  /** Number of parameter markers in the statement. */
  public int parameterCount() {
    return (int) tokens.stream().filter(t -> t.kind() == Kind.PARAMETER).count();
  }

  /**
   * {@code text} (a part of this statement, e.g. the result of {@link #retarget}) with every
   * parameter marker replaced by the SQL literal of its bound value, so that it can run on another
   * node without a parameter round trip. {@code ?} takes values in order; {@code $n} the n-th.
   */
  public static String inlineParameters(String text, List<Object> values) {
    List<Token> tokens = SqlTokens.tokenize(text);
    StringBuilder out = new StringBuilder();
    int at = 0;
    int next = 0;
    for (Token t : tokens) {
      if (t.kind() != Kind.PARAMETER) {
        continue;
      }
      int index = t.text().equals("?") ? next++ : Integer.parseInt(t.text().substring(1)) - 1;
      if (index < 0 || index >= values.size()) {
        throw QuiverException.user(ErrorCode.INVALID_PARAMETERS, "parameter %s has no bound value (%d bound)",
            t.text(), values.size());
      }
      out.append(text, at, t.start()).append(literal(values.get(index)));
      at = t.end();
    }
    return out.append(text.substring(at)).toString();
  }

  /** A SQL literal for a bound parameter value, typed so DuckDB reads it back as the same value. */
  static String literal(Object v) {
    if (v == null) {
      return "NULL";
    }
    if (v instanceof Boolean || v instanceof Integer || v instanceof Long || v instanceof Short
        || v instanceof Byte) {
      return v.toString();
    }
    if (v instanceof BigDecimal d) {
      return d.toPlainString();
    }
    if (v instanceof Double d) {
      return d.isNaN() || d.isInfinite() ? "'" + d + "'::DOUBLE" : d + "::DOUBLE";
    }
    if (v instanceof Float f) {
      return f.isNaN() || f.isInfinite() ? "'" + f + "'::FLOAT" : f + "::FLOAT";
    }
    if (v instanceof byte[] bytes) {
      return "from_hex('" + HexFormat.of().formatHex(bytes) + "')";
    }
    if (v instanceof java.sql.Date || v instanceof java.time.LocalDate) {
      return "DATE '" + v + "'";
    }
    if (v instanceof java.sql.Timestamp ts) {
      return "TIMESTAMP '" + ts.toLocalDateTime() + "'";
    }
    if (v instanceof java.time.LocalDateTime ldt) {
      return "TIMESTAMP '" + ldt + "'";
    }
    if (v instanceof java.sql.Time || v instanceof java.time.LocalTime) {
      return "TIME '" + v + "'";
    }
    return "'" + v.toString().replace("'", "''") + "'";
  }

  static String quote(String identifier) {
    return "\"" + identifier.replace("\"", "\"\"") + "\"";
  }
}
