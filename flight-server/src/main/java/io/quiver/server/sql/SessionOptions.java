package io.quiver.server.sql;

import io.quiver.admission.QueryPriority;
import io.quiver.catalog.engine.DuckDbEngine;
import io.quiver.proto.QuiverException;
import io.quiver.server.query.SessionContext;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.apache.arrow.flight.CloseSessionResult;
import org.apache.arrow.flight.FlightProducer.CallContext;
import org.apache.arrow.flight.FlightServerMiddleware;
import org.apache.arrow.flight.NoOpSessionOptionValueVisitor;
import org.apache.arrow.flight.ServerSessionMiddleware;
import org.apache.arrow.flight.SessionOptionValue;
import org.apache.arrow.flight.SetSessionOptionsRequest;
import org.apache.arrow.flight.SetSessionOptionsResult;
import org.duckdb.DuckDBConnection;

/**
 * Flight session options. A session (an {@code arrow_flight_session_id} cookie) starts with the
 * first SetSessionOptions call. Options: {@code catalog} and {@code schema} (where unqualified
 * names resolve; must exist), {@code priority} ({@code system}, {@code interactive}, {@code
 * batch}). Setting an option to the empty value removes it.
 */
public final class SessionOptions {
  public static final FlightServerMiddleware.Key<ServerSessionMiddleware> KEY =
      FlightServerMiddleware.Key.of("quiver-session");
  public static final String CATALOG = "catalog";
  public static final String SCHEMA = "schema";
  public static final String PRIORITY = "priority";
  public static final Set<String> NAMES = Set.of(CATALOG, SCHEMA, PRIORITY);

  private final DuckDbEngine engine;

  public SessionOptions(DuckDbEngine engine) {
    this.engine = engine;
  }

  /** The session of this call, without creating one. */
  public SessionContext contextOf(CallContext context) {
    String user = context.peerIdentity() == null || context.peerIdentity().isEmpty()
        ? "anonymous" : context.peerIdentity();
    ServerSessionMiddleware mw = context.getMiddleware(KEY);
    if (mw == null || !mw.hasSession()) {
      return new SessionContext(user, QueryPriority.DEFAULT, null, null);
    }
    Map<String, SessionOptionValue> opts = mw.getSession().getSessionOptions();
    String priority = stringOf(opts.get(PRIORITY));
    return new SessionContext(user, priority == null ? QueryPriority.DEFAULT : QueryPriority.parse(priority),
        stringOf(opts.get(CATALOG)), stringOf(opts.get(SCHEMA)));
  }

  public SetSessionOptionsResult set(SetSessionOptionsRequest request, CallContext context) {
    ServerSessionMiddleware.Session session = context.getMiddleware(KEY).getSession();
    Map<String, SetSessionOptionsResult.Error> errors = new HashMap<>();
    // catalog first: a schema in the same request is checked against the new catalog
    Map<String, SessionOptionValue> requested = request.getSessionOptions();
    for (String name : orderedNames(requested)) {
      SessionOptionValue value = requested.get(name);
      if (!NAMES.contains(name)) {
        errors.put(name, new SetSessionOptionsResult.Error(SetSessionOptionsResult.ErrorValue.INVALID_NAME));
        continue;
      }
      if (value.isEmpty()) {
        session.eraseSessionOption(name);
        continue;
      }
      String text = stringOf(value);
      if (text == null || !valid(name, text, session)) {
        errors.put(name, new SetSessionOptionsResult.Error(SetSessionOptionsResult.ErrorValue.INVALID_VALUE));
        continue;
      }
      session.setSessionOption(name, value);
    }
    return new SetSessionOptionsResult(errors);
  }

  public Map<String, SessionOptionValue> get(CallContext context) {
    ServerSessionMiddleware mw = context.getMiddleware(KEY);
    return mw == null || !mw.hasSession() ? Map.of() : mw.getSession().getSessionOptions();
  }

  public CloseSessionResult close(CallContext context) {
    ServerSessionMiddleware mw = context.getMiddleware(KEY);
    if (mw == null || !mw.hasSession()) {
      return new CloseSessionResult(CloseSessionResult.Status.NOT_CLOSABLE);
    }
    mw.closeSession();
    return new CloseSessionResult(CloseSessionResult.Status.CLOSED);
  }

  private static Iterable<String> orderedNames(Map<String, SessionOptionValue> requested) {
    java.util.List<String> names = new java.util.ArrayList<>(requested.keySet());
    names.sort((a, b) -> Boolean.compare(!CATALOG.equals(a), !CATALOG.equals(b)));
    return names;
  }

  private boolean valid(String name, String value, ServerSessionMiddleware.Session session) {
    switch (name) {
      case PRIORITY:
        try {
          QueryPriority.parse(value);
          return true;
        } catch (QuiverException e) {
          return false;
        }
      case CATALOG:
        return exists("SELECT 1 FROM duckdb_databases() WHERE database_name = ?", value);
      case SCHEMA:
        String catalog = stringOf(session.getSessionOption(CATALOG));
        return exists("SELECT 1 FROM duckdb_schemas() WHERE schema_name = ? AND (? IS NULL OR database_name = ?)",
            value, catalog, catalog);
      default:
        return false;
    }
  }

  private boolean exists(String sql, String... params) {
    try (DuckDBConnection c = engine.newConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
      for (int i = 0; i < params.length; i++) {
        ps.setString(i + 1, params[i]);
      }
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next();
      }
    } catch (SQLException e) {
      return false;
    }
  }

  static String stringOf(SessionOptionValue v) {
    if (v == null || v.isEmpty()) {
      return null;
    }
    return v.acceptVisitor(new NoOpSessionOptionValueVisitor<String>() {
      @Override
      public String visit(String value) {
        return value;
      }
    });
  }
}
