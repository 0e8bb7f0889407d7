package io.quiver.coordinator.write;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * A small SQL lexer: enough of DuckDB's lexical rules (quoted identifiers, string literals with
 * doubled quotes, {@code E''} strings, dollar quoting, line and block comments, parameters) to find
 * statement keywords and names reliably without parsing the whole grammar.
 */
public final class SqlTokens {
  /** Token kinds. */
  public enum Kind {
    WORD,
    QUOTED_IDENTIFIER,
    STRING,
    NUMBER,
    PARAMETER,
    SYMBOL
  }

  /** One token: its kind, its text as written, and where it sits in the statement. */
  public record Token(Kind kind, String text, int start, int end, int depth) {
    /** True for an unquoted word equal (case-insensitively) to {@code keyword}. */
    public boolean is(String keyword) {
      return kind == Kind.WORD && text.equalsIgnoreCase(keyword);
    }

    public boolean isSymbol(String symbol) {
      return kind == Kind.SYMBOL && text.equals(symbol);
    }

    /** An identifier's name: unquoted words fold to lower case, quoted ones keep theirs. */
    public String identifier() {
      if (kind == Kind.QUOTED_IDENTIFIER) {
        return text.substring(1, text.length() - 1).replace("\"\"", "\"");
      }
      return text.toLowerCase(Locale.ROOT);
    }

    public boolean isIdentifier() {
      return kind == Kind.WORD || kind == Kind.QUOTED_IDENTIFIER;
    }
  }

  private SqlTokens() {}

  /** The tokens of one statement, without a trailing {@code ;}; empty when {@code sql} does not tokenize. */
  public static Optional<List<Token>> statement(String sql) {
    List<Token> t;
    try {
      t = tokenize(sql);
    } catch (QuiverException e) {
      return Optional.empty();
    }
    return Optional.of(!t.isEmpty() && t.get(t.size() - 1).isSymbol(";") ? t.subList(0, t.size() - 1) : t);
  }

  /** The index of the {@code )} that closes the {@code (} at {@code open}, or -1 when none does. */
  public static int matching(List<Token> t, int open) {
    int depth = t.get(open).depth();
    for (int i = open + 1; i < t.size(); i++) {
      if (t.get(i).isSymbol(")") && t.get(i).depth() == depth) {
        return i;
      }
    }
    return -1;
  }

  /** Tokenizes {@code sql}; comments and white space are dropped. Depth counts open parentheses. */
  public static List<Token> tokenize(String sql) {
    List<Token> tokens = new ArrayList<>();
    int i = 0;
    int depth = 0;
    int n = sql.length();
    while (i < n) {
      char c = sql.charAt(i);
      if (Character.isWhitespace(c)) {
        i++;
      } else if (c == '-' && i + 1 < n && sql.charAt(i + 1) == '-') {
        while (i < n && sql.charAt(i) != '\n') {
          i++;
        }
      } else if (c == '/' && i + 1 < n && sql.charAt(i + 1) == '*') {
        int close = sql.indexOf("*/", i + 2);
        i = close < 0 ? n : close + 2;
      } else if (c == '\'' || ((c == 'E' || c == 'e') && i + 1 < n && sql.charAt(i + 1) == '\'')) {
        int start = i;
        i = quotedEnd(sql, c == '\'' ? i : i + 1, '\'');
        tokens.add(new Token(Kind.STRING, sql.substring(start, i), start, i, depth));
      } else if (c == '"') {
        int start = i;
        i = quotedEnd(sql, i, '"');
        tokens.add(new Token(Kind.QUOTED_IDENTIFIER, sql.substring(start, i), start, i, depth));
      } else if (c == '$' && i + 1 < n && Character.isDigit(sql.charAt(i + 1))) {
        int start = i++;
        while (i < n && Character.isDigit(sql.charAt(i))) {
          i++;
        }
        tokens.add(new Token(Kind.PARAMETER, sql.substring(start, i), start, i, depth));
      } else if (c == '$') {
        int tagEnd = sql.indexOf('$', i + 1);
        if (tagEnd < 0) {
          throw unterminated("dollar-quoted string", i);
        }
        String tag = sql.substring(i, tagEnd + 1);
        int close = sql.indexOf(tag, tagEnd + 1);
        if (close < 0) {
          throw unterminated("dollar-quoted string", i);
        }
        int start = i;
        i = close + tag.length();
        tokens.add(new Token(Kind.STRING, sql.substring(start, i), start, i, depth));
      } else if (c == '?') {
        tokens.add(new Token(Kind.PARAMETER, "?", i, i + 1, depth));
        i++;
      } else if (Character.isLetter(c) || c == '_') {
        int start = i;
        while (i < n && (Character.isLetterOrDigit(sql.charAt(i)) || sql.charAt(i) == '_' || sql.charAt(i) == '$')) {
          i++;
        }
        tokens.add(new Token(Kind.WORD, sql.substring(start, i), start, i, depth));
      } else if (Character.isDigit(c) || (c == '.' && i + 1 < n && Character.isDigit(sql.charAt(i + 1)))) {
        int start = i;
        while (i < n && (Character.isLetterOrDigit(sql.charAt(i)) || sql.charAt(i) == '.' || sql.charAt(i) == '_')) {
          i++;
        }
        tokens.add(new Token(Kind.NUMBER, sql.substring(start, i), start, i, depth));
      } else {
        if (c == ')') {
          depth = Math.max(0, depth - 1);
        }
        tokens.add(new Token(Kind.SYMBOL, String.valueOf(c), i, i + 1, depth));
        if (c == '(') {
          depth++;
        }
        i++;
      }
    }
    return tokens;
  }

  /** The index just past the closing quote of a quoted run starting at {@code open}. */
  private static int quotedEnd(String sql, int open, char quote) {
    int i = open + 1;
    while (i < sql.length()) {
      if (sql.charAt(i) == quote) {
        if (i + 1 < sql.length() && sql.charAt(i + 1) == quote) {
          i += 2;
          continue;
        }
        return i + 1;
      }
      if (quote == '\'' && sql.charAt(i) == '\\' && open > 0 && (sql.charAt(open - 1) == 'E'
          || sql.charAt(open - 1) == 'e')) {
        i += 2;
        continue;
      }
      i++;
    }
    throw unterminated(quote == '"' ? "quoted identifier" : "string literal", open);
  }

  private static QuiverException unterminated(String what, int at) {
    return QuiverException.user(ErrorCode.SYNTAX_ERROR, "unterminated %s starting at character %d", what, at + 1);
  }
}
