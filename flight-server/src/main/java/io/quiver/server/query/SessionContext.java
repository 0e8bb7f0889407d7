package io.quiver.server.query;

import io.quiver.admission.QueryPriority;
import io.quiver.catalog.engine.ArrowSchemas;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Objects;

/**
 * What a statement needs from its session: who runs it, at which priority, and where unqualified
 * names resolve ({@code catalog}/{@code schema} session options).
 */
public record SessionContext(String user, QueryPriority priority, String catalog, String schema) {
  public SessionContext {
    Objects.requireNonNull(user, "user");
    Objects.requireNonNull(priority, "priority");
  }

  public static SessionContext anonymous() {
    return new SessionContext("anonymous", QueryPriority.DEFAULT, null, null);
  }

  /** Points a fresh connection at the session's catalog and schema. */
  public void apply(Connection conn) throws SQLException {
    String target;
    if (catalog != null && schema != null) {
      target = ArrowSchemas.quoteIdentifier(catalog) + "." + ArrowSchemas.quoteIdentifier(schema);
    } else if (catalog != null) {
      target = ArrowSchemas.quoteIdentifier(catalog);
    } else if (schema != null) {
      target = ArrowSchemas.quoteIdentifier(schema);
    } else {
      return;
    }
    try (Statement s = conn.createStatement()) {
      s.execute("USE " + target);
    }
  }
}
