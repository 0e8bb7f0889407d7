package io.quiver.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import io.quiver.catalog.engine.ArrowSchemas;
import io.quiver.catalog.engine.DuckDbEngine;
import io.quiver.proto.ErrorCode;
import io.quiver.proto.QueryId;
import io.quiver.proto.QuiverException;
import io.quiver.server.query.QueryExecution;
import io.quiver.server.query.QueryManager;
import io.quiver.server.query.RemoteTables;
import io.quiver.server.query.ParameterValues;
import io.quiver.server.query.ResultStreamer;
import io.quiver.server.query.SessionContext;
import io.quiver.server.cluster.DistributedTables;
import io.quiver.server.cluster.DistributedWrites;
import io.quiver.server.cluster.ShardTransactions;
import io.quiver.server.sql.BulkIngest;
import io.quiver.server.sql.CatalogMetadata;
import io.quiver.server.sql.PreparedStatementRegistry;
import io.quiver.server.sql.PreparedStatementRegistry.Prepared;
import io.quiver.server.sql.SessionOptions;
import java.nio.charset.StandardCharsets;
import java.sql.ParameterMetaData;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BooleanSupplier;
import org.apache.arrow.flight.Action;
import org.apache.arrow.flight.ActionType;
import org.apache.arrow.flight.CancelFlightInfoRequest;
import org.apache.arrow.flight.CancelStatus;
import org.apache.arrow.flight.CloseSessionRequest;
import org.apache.arrow.flight.CloseSessionResult;
import org.apache.arrow.flight.Criteria;
import org.apache.arrow.flight.FlightDescriptor;
import org.apache.arrow.flight.FlightEndpoint;
import org.apache.arrow.flight.FlightInfo;
import org.apache.arrow.flight.FlightStream;
import org.apache.arrow.flight.GetSessionOptionsRequest;
import org.apache.arrow.flight.GetSessionOptionsResult;
import org.apache.arrow.flight.PutResult;
import org.apache.arrow.flight.Result;
import org.apache.arrow.flight.SchemaResult;
import org.apache.arrow.flight.SetSessionOptionsRequest;
import org.apache.arrow.flight.SetSessionOptionsResult;
import org.apache.arrow.flight.Ticket;
import org.apache.arrow.flight.sql.FlightSqlProducer;
import org.apache.arrow.flight.sql.SqlInfoBuilder;
import org.apache.arrow.flight.sql.impl.FlightSql;
import org.apache.arrow.flight.sql.impl.FlightSql.ActionClosePreparedStatementRequest;
import org.apache.arrow.flight.sql.impl.FlightSql.ActionCreatePreparedStatementRequest;
import org.apache.arrow.flight.sql.impl.FlightSql.ActionCreatePreparedStatementResult;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandGetCatalogs;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandGetCrossReference;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandGetDbSchemas;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandGetExportedKeys;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandGetImportedKeys;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandGetPrimaryKeys;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandGetSqlInfo;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandGetTableTypes;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandGetTables;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandGetXdbcTypeInfo;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandPreparedStatementQuery;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandPreparedStatementUpdate;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandStatementIngest;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandStatementQuery;
import org.apache.arrow.flight.sql.impl.FlightSql.CommandStatementUpdate;
import org.apache.arrow.flight.sql.impl.FlightSql.DoPutPreparedStatementResult;
import org.apache.arrow.flight.sql.impl.FlightSql.DoPutUpdateResult;
import org.apache.arrow.flight.sql.impl.FlightSql.TicketStatementQuery;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.types.pojo.Schema;
import org.duckdb.DuckDBConnection;
import org.duckdb.DuckDBResultSetMetaData;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Quiver's front door: Flight SQL for clients (JDBC, ADBC, pyarrow), plus the plain Flight calls
 * trexsql nodes and plain Flight clients use — a JSON ticket {@code {"query": "<sql>"}}, the
 * {@code query} action, and ListFlights/GetFlightInfo on path descriptors naming tables.
 *
 * <p>Queries start executing at GetFlightInfo (so CancelFlightInfo can reach them) and stream at
 * DoGet; a result not fetched within the result TTL is cancelled. Updates and DDL run exactly once,
 * where the protocol says they run (DoPut for prepared/statement updates). Every failure leaves
 * through {@link FlightErrors}.
 */
public final class QuiverFlightSqlProducer implements FlightSqlProducer, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(QuiverFlightSqlProducer.class);
  private static final String SQL_TYPE_PREFIX = "type.googleapis.com/arrow.flight.protocol.sql.";
  static final String ACTION_QUERY = "query";
  private static final byte[] ACTION_OK = "{\"status\":\"ok\"}".getBytes(StandardCharsets.UTF_8);
  private static final long WAIT_POLL_MILLIS = 50;
  private static final String UPDATE_COUNT_HANDLE_PREFIX = "count:";

  private final DuckDbEngine engine;
  private final BufferAllocator allocator;
  private final QueryManager queries;
  private final PreparedStatementRegistry prepared;
  private final SessionOptions sessions;
  private final CatalogMetadata catalog;
  private final BulkIngest ingest;
  private final SqlInfoBuilder sqlInfo;
  private final ObjectMapper json = new ObjectMapper();
  private volatile DistributedWrites writes;
  private volatile ShardTransactions shardTransactions;
  private volatile io.quiver.shuffle.ShuffleBuffers shuffles;

  public QuiverFlightSqlProducer(DuckDbEngine engine, BufferAllocator allocator, QueryManager queries,
      PreparedStatementRegistry prepared, String version) {
    this.engine = engine;
    this.allocator = allocator;
    this.queries = queries;
    this.prepared = prepared;
    this.sessions = new SessionOptions(engine);
    this.catalog = new CatalogMetadata(engine, allocator);
    this.ingest = new BulkIngest(engine);
    this.sqlInfo = ServerSqlInfo.build(version);
  }

  /** Routes writes to distributed tables and takes part in other coordinators' writes (once in a cluster). */
  public void enableDistributedWrites(DistributedWrites writes, ShardTransactions shardTransactions) {
    this.writes = writes;
    this.shardTransactions = shardTransactions;
  }

  /** Takes the push shuffles other nodes send here (DoPut) and sends this node's (DoGet of a send ticket). */
  public void enableShuffles(io.quiver.shuffle.ShuffleBuffers buffers) {
    this.shuffles = buffers;
  }

  /** Runs {@code sql} as a distributed write when it writes to (or drops) a distributed table. */
  private OptionalLong routedWrite(String sql, SessionContext session, List<List<Object>> params) {
    DistributedWrites w = writes;
    if (w == null) {
      return OptionalLong.empty();
    }
    OptionalLong dropped = routedDrop(w, sql);
    if (dropped.isPresent()) {
      return dropped;
    }
    Optional<DistributedWrites.Target> target = w.target(sql);
    return target.isEmpty() ? OptionalLong.empty() : OptionalLong.of(w.execute(target.get(), session, params));
  }

  /** {@code DROP TABLE} of a distributed table: dropped everywhere; update count 0. */
  private static OptionalLong routedDrop(DistributedWrites w, String sql) {
    Optional<DistributedTables.Definition> dropped = w.dropTarget(sql);
    if (dropped.isEmpty()) {
      return OptionalLong.empty();
    }
    LOG.info(w.drop(dropped.get()));
    return OptionalLong.of(0);
  }

  private FlightInfo updateCountInfo(long count, FlightDescriptor descriptor) {
    Ticket ticket = new Ticket(Any.pack(TicketStatementQuery.newBuilder()
        .setStatementHandle(ByteString.copyFromUtf8(UPDATE_COUNT_HANDLE_PREFIX + count)).build()).toByteArray());
    return new FlightInfo(QueryExecution.UPDATE_COUNT_SCHEMA, descriptor, List.of(new FlightEndpoint(ticket)), -1, -1);
  }

  // ---------------------------------------------------------------- statements

  @Override
  public FlightInfo getFlightInfoStatement(CommandStatementQuery command, CallContext context,
      FlightDescriptor descriptor) {
    return call(() -> execute(command.getQuery(), sessions.contextOf(context), List.of(), descriptor, context::isCancelled));
  }

  @Override
  public FlightInfo getFlightInfoPreparedStatement(CommandPreparedStatementQuery command, CallContext context,
      FlightDescriptor descriptor) {
    return call(() -> {
      Prepared p = prepared.get(command.getPreparedStatementHandle().toStringUtf8());
      return execute(p.sql(), sessions.contextOf(context), p.boundRows(), descriptor, context::isCancelled);
    });
  }

  /**
   * Starts a statement. A query returns at once (its rows stream at DoGet); an update or DDL runs
   * to the end here, so a client that never calls DoGet still gets it done, once.
   */
  private FlightInfo execute(String sql, SessionContext session, List<List<Object>> params,
      FlightDescriptor descriptor, BooleanSupplier clientGone) throws Exception {
    OptionalLong routed = routedWrite(sql, session, params);
    if (routed.isPresent()) {
      return updateCountInfo(routed.getAsLong(), descriptor);
    }
    QueryExecution exec = queries.submit(sql, session, params);
    if (exec.kind() != QueryExecution.Kind.ROWS) {
      await(exec, clientGone);
    }
    String handle = exec.handle();
    switch (exec.kind()) {
      case NOTHING -> {
        exec.state().finish();
        return new FlightInfo(exec.schema(), descriptor, List.of(), -1, -1);
      }
      case UPDATE_COUNT -> {
        // done already: the ticket carries the count, so nothing waits on the node for a DoGet
        handle = UPDATE_COUNT_HANDLE_PREFIX + exec.updateCount();
        exec.state().finish();
      }
      case ROWS -> { }
    }
    Ticket ticket = new Ticket(Any.pack(TicketStatementQuery.newBuilder()
        .setStatementHandle(ByteString.copyFromUtf8(handle)).build()).toByteArray());
    return new FlightInfo(exec.schema(), descriptor, List.of(new FlightEndpoint(ticket)), -1, -1);
  }

  @Override
  public void getStreamStatement(TicketStatementQuery ticket, CallContext context, ServerStreamListener listener) {
    String handle = ticket.getStatementHandle().toStringUtf8();
    if (handle.startsWith(UPDATE_COUNT_HANDLE_PREFIX)) {
      stream(listener, () -> ResultStreamer.streamUpdateCount(parseCount(handle), allocator, listener));
      return;
    }
    stream(listener, () -> ResultStreamer.stream(queries.claim(handle), listener));
  }

  private static long parseCount(String handle) {
    try {
      return Long.parseLong(handle.substring(UPDATE_COUNT_HANDLE_PREFIX.length()));
    } catch (NumberFormatException e) {
      throw QuiverException.user(ErrorCode.INVALID_HANDLE, "'%s' is not a valid result handle", handle);
    }
  }

  @Override
  public void getStreamPreparedStatement(CommandPreparedStatementQuery command, CallContext context,
      ServerStreamListener listener) {
    stream(listener, () -> {
      Prepared p = prepared.get(command.getPreparedStatementHandle().toStringUtf8());
      QueryExecution exec = queries.submit(p.sql(), sessions.contextOf(context), p.boundRows());
      ResultStreamer.stream(queries.claim(exec.handle()), listener);
    });
  }

  @Override
  public SchemaResult getSchemaStatement(CommandStatementQuery command, CallContext context,
      FlightDescriptor descriptor) {
    return call(() -> new SchemaResult(describe(command.getQuery(), sessions.contextOf(context)).dataset()));
  }

  @Override
  public SchemaResult getSchemaPreparedStatement(CommandPreparedStatementQuery command, CallContext context,
      FlightDescriptor descriptor) {
    return call(() -> new SchemaResult(prepared.get(command.getPreparedStatementHandle().toStringUtf8())
        .datasetSchema()));
  }

  @Override
  public Runnable acceptPutStatement(CommandStatementUpdate command, CallContext context, FlightStream flightStream,
      StreamListener<PutResult> ackStream) {
    return () -> put(ackStream, () -> {
      OptionalLong routed = routedWrite(command.getQuery(), sessions.contextOf(context), List.of());
      if (routed.isPresent()) {
        sendUpdateCount(ackStream, routed.getAsLong());
        return;
      }
      QueryExecution exec = queries.submit(command.getQuery(), sessions.contextOf(context), List.of());
      sendUpdateCount(ackStream, runToEnd(exec, context::isCancelled));
    });
  }

  @Override
  public Runnable acceptPutPreparedStatementUpdate(CommandPreparedStatementUpdate command, CallContext context,
      FlightStream flightStream, StreamListener<PutResult> ackStream) {
    return () -> put(ackStream, () -> {
      Prepared p = prepared.get(command.getPreparedStatementHandle().toStringUtf8());
      SessionContext session = sessions.contextOf(context);
      DistributedWrites w = writes;
      Optional<DistributedWrites.Target> target = w == null ? Optional.empty() : w.target(p.sql());
      if (target.isPresent()) {
        // a batch of parameter rows for INSERT ... VALUES (?, ...) goes in set-wise; other shapes row by row
        OptionalLong batch = w.insertParameterBatch(target.get(), session, p.parameterSchema().getFields().size(),
            flightStream);
        sendUpdateCount(ackStream, batch.isPresent() ? batch.getAsLong() : w.execute(target.get(), session,
            boundRows(readParameters(flightStream, p), p)));
        return;
      }
      List<List<Object>> rows = boundRows(readParameters(flightStream, p), p);
      OptionalLong dropped = w == null ? OptionalLong.empty() : routedDrop(w, p.sql());
      if (dropped.isPresent()) {
        sendUpdateCount(ackStream, dropped.getAsLong());
        return;
      }
      QueryExecution exec = queries.submit(p.sql(), session, rows);
      sendUpdateCount(ackStream, runToEnd(exec, context::isCancelled));
    });
  }

  @Override
  public Runnable acceptPutPreparedStatementQuery(CommandPreparedStatementQuery command, CallContext context,
      FlightStream flightStream, StreamListener<PutResult> ackStream) {
    return () -> put(ackStream, () -> {
      Prepared p = prepared.get(command.getPreparedStatementHandle().toStringUtf8());
      p.bind(readParameters(flightStream, p));
      sendMetadata(ackStream, DoPutPreparedStatementResult.newBuilder()
          .setPreparedStatementHandle(command.getPreparedStatementHandle()).build());
    });
  }

  @Override
  public Runnable acceptPutStatementBulkIngest(CommandStatementIngest command, CallContext context,
      FlightStream flightStream, StreamListener<PutResult> ackStream) {
    return () -> put(ackStream, () -> {
      DistributedWrites w = writes;
      Optional<DistributedTables.Definition> distributed = w == null ? Optional.empty() : w.ingestTarget(command);
      if (distributed.isPresent()) {
        sendUpdateCount(ackStream, w.ingest(command, distributed.get(), sessions.contextOf(context), flightStream));
        return;
      }
      long rows;
      try (BufferAllocator child = allocator.newChildAllocator("ingest-" + command.getTable(), 0, Long.MAX_VALUE)) {
        rows = ingest.ingest(command, sessions.contextOf(context), flightStream, child);
      }
      sendUpdateCount(ackStream, rows);
    });
  }

  /** The rows sent with the call, or else the ones bound earlier. */
  private static List<List<Object>> boundRows(List<List<Object>> sent, Prepared p) {
    return sent.isEmpty() ? p.boundRows() : sent;
  }

  /** Reads every parameter row a client bound; checks the count against the statement's parameters. */
  private static List<List<Object>> readParameters(FlightStream stream, Prepared p) {
    List<List<Object>> rows = new ArrayList<>();
    int expected = p.parameterSchema().getFields().size();
    while (stream.next()) {
      int got = stream.getRoot().getFieldVectors().size();
      if (got != expected) {
        throw QuiverException.user(ErrorCode.INVALID_PARAMETERS,
            "the statement has %d parameter(s) but %d were bound", expected, got);
      }
      rows.addAll(ParameterValues.rows(stream.getRoot()));
    }
    return rows;
  }

  private static long runToEnd(QueryExecution exec, BooleanSupplier clientGone) throws Exception {
    await(exec, clientGone);
    long count = exec.kind() == QueryExecution.Kind.ROWS ? -1 : exec.updateCount();
    exec.state().finish();
    return count;
  }

  private static void await(QueryExecution exec, BooleanSupplier clientGone) throws Exception {
    while (true) {
      try {
        exec.executed().get(WAIT_POLL_MILLIS, TimeUnit.MILLISECONDS);
        return;
      } catch (TimeoutException e) {
        if (clientGone.getAsBoolean()) {
          exec.cancel("the client cancelled the call");
        }
      } catch (ExecutionException e) {
        throw e.getCause() instanceof Exception c ? c : e;
      }
    }
  }

  // ---------------------------------------------------------------- prepared statements

  @Override
  public void createPreparedStatement(ActionCreatePreparedStatementRequest request, CallContext context,
      StreamListener<Result> listener) {
    respond(listener, () -> {
      if (request.hasTransactionId()) {
        throw QuiverException.user(ErrorCode.NOT_SUPPORTED, "transactions are not supported yet");
      }
      Description d = describe(request.getQuery(), sessions.contextOf(context));
      Prepared p = prepared.register(request.getQuery(), d.dataset(), d.parameters());
      ActionCreatePreparedStatementResult.Builder result = ActionCreatePreparedStatementResult.newBuilder()
          .setPreparedStatementHandle(ByteString.copyFromUtf8(p.handle()))
          .setParameterSchema(ByteString.copyFrom(ArrowSchemas.serialize(d.parameters())));
      if (!d.dataset().getFields().isEmpty()) {
        result.setDatasetSchema(ByteString.copyFrom(ArrowSchemas.serialize(d.dataset())));
      }
      listener.onNext(new Result(Any.pack(result.build()).toByteArray()));
    });
  }

  @Override
  public void closePreparedStatement(ActionClosePreparedStatementRequest request, CallContext context,
      StreamListener<Result> listener) {
    respond(listener, () -> prepared.close(request.getPreparedStatementHandle().toStringUtf8()));
  }

  /** The result schema (empty for updates and DDL) and parameter schema of {@code sql}, without running it. */
  private Description describe(String sql, SessionContext session) throws SQLException {
    List<AutoCloseable> attachments = new ArrayList<>();
    try (DuckDBConnection conn = engine.newConnection()) {
      session.apply(conn);
      DistributedWrites w = writes;
      if (w != null && w.dropTarget(sql).isPresent()) {
        return new Description(new Schema(List.of()), new Schema(List.of()));
      }
      Optional<DistributedWrites.Target> target = w == null ? Optional.empty() : w.target(sql);
      String toPrepare = target.isPresent() ? w.stageStatement(conn, target.get())
          : io.quiver.server.query.DistributedExplain.rewrite(conn, sql, queries.remoteTables(), null)
              .orElse(sql);
      try (PreparedStatement ps = RemoteTables.prepare(conn, toPrepare, queries.remoteTables(), allocator, false,
          attachments)) {
        DuckDBResultSetMetaData md = (DuckDBResultSetMetaData) ps.getMetaData();
        ParameterMetaData pm = ps.getParameterMetaData();
        Schema params = ArrowSchemas.ofParameters(conn, allocator, pm);
        Schema dataset = md.getReturnType() == org.duckdb.StatementReturnType.QUERY_RESULT
            ? ArrowSchemas.ofResult(conn, allocator, md) : new Schema(List.of());
        return new Description(dataset, params);
      }
    } finally {
      QueryExecution.closeAll(attachments);
    }
  }

  private record Description(Schema dataset, Schema parameters) {}

  // ---------------------------------------------------------------- cancellation and sessions

  @Override
  public void cancelFlightInfo(CancelFlightInfoRequest request, CallContext context,
      StreamListener<CancelStatus> listener) {
    try {
      CancelStatus status = CancelStatus.NOT_CANCELLABLE;
      for (FlightEndpoint endpoint : request.getInfo().getEndpoints()) {
        String handle = handleOf(endpoint.getTicket());
        if (handle != null && queries.find(handle).map(q -> q.cancel("the client cancelled it (CancelFlightInfo)"))
            .orElse(false)) {
          status = CancelStatus.CANCELLED;
        }
      }
      listener.onNext(status);
      listener.onCompleted();
    } catch (Throwable t) {
      listener.onError(FlightErrors.toFlight(t));
    }
  }

  private static String handleOf(Ticket ticket) {
    try {
      Any any = Any.parseFrom(ticket.getBytes());
      if (any.is(TicketStatementQuery.class)) {
        return any.unpack(TicketStatementQuery.class).getStatementHandle().toStringUtf8();
      }
    } catch (InvalidProtocolBufferException e) {
      return null;
    }
    return null;
  }

  @Override
  public void setSessionOptions(SetSessionOptionsRequest request, CallContext context,
      StreamListener<SetSessionOptionsResult> listener) {
    try {
      listener.onNext(sessions.set(request, context));
      listener.onCompleted();
    } catch (Throwable t) {
      listener.onError(FlightErrors.toFlight(t));
    }
  }

  @Override
  public void getSessionOptions(GetSessionOptionsRequest request, CallContext context,
      StreamListener<GetSessionOptionsResult> listener) {
    try {
      listener.onNext(new GetSessionOptionsResult(sessions.get(context)));
      listener.onCompleted();
    } catch (Throwable t) {
      listener.onError(FlightErrors.toFlight(t));
    }
  }

  @Override
  public void closeSession(CloseSessionRequest request, CallContext context,
      StreamListener<CloseSessionResult> listener) {
    try {
      listener.onNext(sessions.close(context));
      listener.onCompleted();
    } catch (Throwable t) {
      listener.onError(FlightErrors.toFlight(t));
    }
  }

  @Override
  public void beginTransaction(FlightSql.ActionBeginTransactionRequest request, CallContext context,
      StreamListener<FlightSql.ActionBeginTransactionResult> listener) {
    listener.onError(FlightErrors.toFlight(QuiverException.user(ErrorCode.NOT_SUPPORTED,
        "transactions are not supported yet: every statement commits on its own")));
  }

  @Override
  public void beginSavepoint(FlightSql.ActionBeginSavepointRequest request, CallContext context,
      StreamListener<FlightSql.ActionBeginSavepointResult> listener) {
    listener.onError(FlightErrors.toFlight(QuiverException.user(ErrorCode.NOT_SUPPORTED,
        "savepoints are not supported yet")));
  }

  // ---------------------------------------------------------------- metadata

  @Override
  public FlightInfo getFlightInfoSqlInfo(CommandGetSqlInfo request, CallContext context, FlightDescriptor descriptor) {
    return metadataInfo(request, descriptor, Schemas.GET_SQL_INFO_SCHEMA);
  }

  @Override
  public void getStreamSqlInfo(CommandGetSqlInfo command, CallContext context, ServerStreamListener listener) {
    stream(listener, () -> sqlInfo.send(command.getInfoList(), listener));
  }

  @Override
  public FlightInfo getFlightInfoTypeInfo(CommandGetXdbcTypeInfo request, CallContext context,
      FlightDescriptor descriptor) {
    return metadataInfo(request, descriptor, Schemas.GET_TYPE_INFO_SCHEMA);
  }

  @Override
  public void getStreamTypeInfo(CommandGetXdbcTypeInfo request, CallContext context, ServerStreamListener listener) {
    stream(listener, () -> catalog.typeInfo(request, listener));
  }

  @Override
  public FlightInfo getFlightInfoCatalogs(CommandGetCatalogs request, CallContext context, FlightDescriptor descriptor) {
    return metadataInfo(request, descriptor, Schemas.GET_CATALOGS_SCHEMA);
  }

  @Override
  public void getStreamCatalogs(CallContext context, ServerStreamListener listener) {
    stream(listener, () -> catalog.catalogs(listener));
  }

  @Override
  public FlightInfo getFlightInfoSchemas(CommandGetDbSchemas request, CallContext context,
      FlightDescriptor descriptor) {
    return metadataInfo(request, descriptor, Schemas.GET_SCHEMAS_SCHEMA);
  }

  @Override
  public void getStreamSchemas(CommandGetDbSchemas command, CallContext context, ServerStreamListener listener) {
    stream(listener, () -> catalog.schemas(command, listener));
  }

  @Override
  public FlightInfo getFlightInfoTables(CommandGetTables request, CallContext context, FlightDescriptor descriptor) {
    return metadataInfo(request, descriptor,
        request.getIncludeSchema() ? Schemas.GET_TABLES_SCHEMA : Schemas.GET_TABLES_SCHEMA_NO_SCHEMA);
  }

  @Override
  public void getStreamTables(CommandGetTables command, CallContext context, ServerStreamListener listener) {
    stream(listener, () -> catalog.tables(command, listener));
  }

  @Override
  public FlightInfo getFlightInfoTableTypes(CommandGetTableTypes request, CallContext context,
      FlightDescriptor descriptor) {
    return metadataInfo(request, descriptor, Schemas.GET_TABLE_TYPES_SCHEMA);
  }

  @Override
  public void getStreamTableTypes(CallContext context, ServerStreamListener listener) {
    stream(listener, () -> catalog.tableTypes(listener));
  }

  @Override
  public FlightInfo getFlightInfoPrimaryKeys(CommandGetPrimaryKeys request, CallContext context,
      FlightDescriptor descriptor) {
    return metadataInfo(request, descriptor, Schemas.GET_PRIMARY_KEYS_SCHEMA);
  }

  @Override
  public void getStreamPrimaryKeys(CommandGetPrimaryKeys command, CallContext context, ServerStreamListener listener) {
    stream(listener, () -> catalog.primaryKeys(command, listener));
  }

  @Override
  public FlightInfo getFlightInfoExportedKeys(CommandGetExportedKeys request, CallContext context,
      FlightDescriptor descriptor) {
    return metadataInfo(request, descriptor, Schemas.GET_EXPORTED_KEYS_SCHEMA);
  }

  @Override
  public FlightInfo getFlightInfoImportedKeys(CommandGetImportedKeys request, CallContext context,
      FlightDescriptor descriptor) {
    return metadataInfo(request, descriptor, Schemas.GET_IMPORTED_KEYS_SCHEMA);
  }

  @Override
  public FlightInfo getFlightInfoCrossReference(CommandGetCrossReference request, CallContext context,
      FlightDescriptor descriptor) {
    return metadataInfo(request, descriptor, Schemas.GET_CROSS_REFERENCE_SCHEMA);
  }

  @Override
  public void getStreamExportedKeys(CommandGetExportedKeys command, CallContext context,
      ServerStreamListener listener) {
    stream(listener, () -> catalog.foreignKeys(opt(command.hasCatalog(), command.getCatalog()),
        opt(command.hasDbSchema(), command.getDbSchema()), command.getTable(), null, null, null, listener));
  }

  @Override
  public void getStreamImportedKeys(CommandGetImportedKeys command, CallContext context,
      ServerStreamListener listener) {
    stream(listener, () -> catalog.foreignKeys(null, null, null, opt(command.hasCatalog(), command.getCatalog()),
        opt(command.hasDbSchema(), command.getDbSchema()), command.getTable(), listener));
  }

  @Override
  public void getStreamCrossReference(CommandGetCrossReference command, CallContext context,
      ServerStreamListener listener) {
    stream(listener, () -> catalog.foreignKeys(opt(command.hasPkCatalog(), command.getPkCatalog()),
        opt(command.hasPkDbSchema(), command.getPkDbSchema()), command.getPkTable(),
        opt(command.hasFkCatalog(), command.getFkCatalog()), opt(command.hasFkDbSchema(), command.getFkDbSchema()),
        command.getFkTable(), listener));
  }

  private static String opt(boolean has, String value) {
    return has ? value : null;
  }

  private static FlightInfo metadataInfo(Message command, FlightDescriptor descriptor, Schema schema) {
    Ticket ticket = new Ticket(Any.pack(command).toByteArray());
    return new FlightInfo(schema, descriptor, List.of(new FlightEndpoint(ticket)), -1, -1);
  }

  // ---------------------------------------------------------------- plain Flight (trexsql wire format)

  /** DoGet: Flight SQL tickets, or a JSON ticket {@code {"query": "<sql>"}}. */
  @Override
  public void getStream(CallContext context, Ticket ticket, ServerStreamListener listener) {
    byte[] bytes = ticket.getBytes();
    java.util.Optional<io.quiver.proto.wire.FragmentTicket> fragment;
    java.util.Optional<io.quiver.proto.wire.ShuffleSendTicket> send;
    try {
      fragment = io.quiver.proto.wire.Wire.unpack(bytes, io.quiver.proto.wire.FragmentTicket.class);
      send = io.quiver.proto.wire.Wire.unpack(bytes, io.quiver.proto.wire.ShuffleSendTicket.class);
    } catch (QuiverException e) {
      listener.error(FlightErrors.toFlight(e));
      return;
    }
    if (fragment.isPresent()) {
      // a fragment or shard read another node runs for one of its queries
      io.quiver.proto.wire.FragmentTicket f = fragment.get();
      stream(listener, () -> {
        QueryExecution exec = queries.submit(f.getQuery(), sessions.contextOf(context), List.of(),
            f.getQueryId().isEmpty() ? null : new QueryId(f.getQueryId()), Math.max(0, f.getMemoryBytes()),
            io.quiver.server.query.RemoteTables.inputsOf(f));
        ResultStreamer.stream(queries.claim(exec.handle()), listener);
      });
      return;
    }
    if (send.isPresent()) {
      io.quiver.shuffle.ShuffleBuffers buffers = shuffles;
      if (buffers == null) {
        listener.error(FlightErrors.toFlight(QuiverException.user(ErrorCode.NOT_SUPPORTED,
            "this node is not in a cluster; it sends no shuffles")));
        return;
      }
      io.quiver.server.query.ShuffleSends.serve(send.get(), queries, sessions.contextOf(context), buffers.config(),
          allocator, listener);
      return;
    }
    if (looksLikeJson(bytes)) {
      stream(listener, () -> {
        QueryExecution exec = queries.submit(jsonQuery(bytes, "ticket"), sessions.contextOf(context), List.of(),
            jsonQueryId(bytes), jsonMemoryBytes(bytes), null);
        ResultStreamer.stream(queries.claim(exec.handle()), listener);
      });
      return;
    }
    if (!isFlightSqlCommand(bytes)) {
      listener.error(FlightErrors.toFlight(QuiverException.user(ErrorCode.MALFORMED_REQUEST,
          "the ticket is neither a Flight SQL ticket nor a JSON ticket {\"query\": \"<sql>\"}")));
      return;
    }
    FlightSqlProducer.super.getStream(context, ticket, listener);
  }

  /**
   * GetFlightInfo: Flight SQL commands; a path descriptor naming a table ({@code [table]},
   * {@code [schema, table]} or {@code [catalog, schema, table]}); or a command holding SQL text or
   * a JSON {@code {"query": "<sql>"}}.
   */
  @Override
  public FlightInfo getFlightInfo(CallContext context, FlightDescriptor descriptor) {
    if (!descriptor.isCommand()) {
      return call(() -> tableInfo(descriptor.getPath(), descriptor));
    }
    byte[] cmd = descriptor.getCommand();
    if (isFlightSqlCommand(cmd)) {
      return FlightSqlProducer.super.getFlightInfo(context, descriptor);
    }
    return call(() -> execute(looksLikeJson(cmd) ? jsonQuery(cmd, "command") : new String(cmd, StandardCharsets.UTF_8),
        sessions.contextOf(context), List.of(), descriptor, context::isCancelled));
  }

  @Override
  public SchemaResult getSchema(CallContext context, FlightDescriptor descriptor) {
    if (!descriptor.isCommand()) {
      return call(() -> new SchemaResult(tableInfo(descriptor.getPath(), descriptor).getSchema()));
    }
    byte[] cmd = descriptor.getCommand();
    if (isFlightSqlCommand(cmd)) {
      return FlightSqlProducer.super.getSchema(context, descriptor);
    }
    return call(() -> new SchemaResult(describe(looksLikeJson(cmd) ? jsonQuery(cmd, "command")
        : new String(cmd, StandardCharsets.UTF_8), sessions.contextOf(context)).dataset()));
  }

  /**
   * DoPut: Flight SQL commands, rows of another coordinator's distributed write for a shard, or rows
   * another node's shuffle sends here.
   */
  @Override
  public Runnable acceptPut(CallContext context, FlightStream flightStream, StreamListener<PutResult> ackStream) {
    FlightDescriptor d = flightStream.getDescriptor();
    java.util.Optional<io.quiver.shuffle.ShuffleDescriptor> shuffle = io.quiver.shuffle.ShuffleDescriptor.of(d);
    if (shuffle.isPresent()) {
      return () -> put(ackStream, () -> {
        io.quiver.shuffle.ShuffleBuffers buffers = shuffles;
        if (buffers == null) {
          throw QuiverException.user(ErrorCode.NOT_SUPPORTED, "this node is not in a cluster; it takes no shuffles");
        }
        buffers.accept(shuffle.get(), flightStream);
      });
    }
    String[] append = d.isCommand() && looksLikeJson(d.getCommand()) ? DistributedWrites.appendTarget(d.getCommand())
        : null;
    if (append == null) {
      return FlightSqlProducer.super.acceptPut(context, flightStream, ackStream);
    }
    return () -> put(ackStream, () -> {
      ShardTransactions txns = shardTransactions;
      if (txns == null) {
        throw QuiverException.user(ErrorCode.NOT_SUPPORTED, "this node is not in a cluster; it takes no shard writes");
      }
      sendUpdateCount(ackStream, txns.append(append[0], append[1], flightStream));
    });
  }

  /** ListFlights: one flight per user table, readable with a JSON ticket. */
  @Override
  public void listFlights(CallContext context, Criteria criteria, StreamListener<FlightInfo> listener) {
    try (DuckDBConnection c = engine.newConnection();
        PreparedStatement ps = c.prepareStatement("SELECT table_catalog, table_schema, table_name, "
            + "table_catalog = current_database() AND table_schema = current_schema() "
            + "FROM information_schema.tables WHERE table_catalog NOT IN ('system', 'temp') ORDER BY 1, 2, 3");
        ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        List<String> path = rs.getBoolean(4) ? List.of(rs.getString(3))
            : List.of(rs.getString(1), rs.getString(2), rs.getString(3));
        listener.onNext(tableInfo(path, FlightDescriptor.path(path)));
      }
      listener.onCompleted();
    } catch (Throwable t) {
      listener.onError(FlightErrors.toFlight(t));
    }
  }

  private FlightInfo tableInfo(List<String> path, FlightDescriptor descriptor) throws Exception {
    if (path.isEmpty() || path.size() > 3) {
      throw QuiverException.user(ErrorCode.MALFORMED_REQUEST,
          "a path descriptor names a table as [table], [schema, table] or [catalog, schema, table]; got %s", path);
    }
    StringBuilder name = new StringBuilder();
    for (String part : path) {
      name.append(name.length() == 0 ? "" : ".").append(ArrowSchemas.quoteIdentifier(part));
    }
    String sql = "SELECT * FROM " + name;
    Schema schema;
    try (DuckDBConnection c = engine.newConnection()) {
      schema = ResultStreamer.plainSchema(ArrowSchemas.ofQuery(c, allocator, sql));
    }
    Ticket ticket = new Ticket(json.writeValueAsBytes(java.util.Map.of("query", sql)));
    return new FlightInfo(schema, descriptor, List.of(new FlightEndpoint(ticket)), -1, -1);
  }

  /** DoAction {@code query}: runs a statement given as {@code {"query": "<sql>"}}; answers {@code {"status":"ok"}}. */
  @Override
  public void doAction(CallContext context, Action action, StreamListener<Result> listener) {
    if (DistributedWrites.ACTION.equals(action.getType())) {
      respond(listener, () -> {
        ShardTransactions txns = shardTransactions;
        if (txns == null) {
          throw QuiverException.user(ErrorCode.NOT_SUPPORTED, "this node is not in a cluster; it takes no shard writes");
        }
        listener.onNext(new Result(DistributedWrites.handle(txns, action.getBody())));
      });
      return;
    }
    if (!ACTION_QUERY.equals(action.getType())) {
      FlightSqlProducer.super.doAction(context, action, listener);
      return;
    }
    respond(listener, () -> {
      String sql = jsonQuery(action.getBody(), "action body");
      if (routedWrite(sql, sessions.contextOf(context), List.of()).isEmpty()) {
        runToEnd(queries.submit(sql, sessions.contextOf(context), List.of()), context::isCancelled);
      }
      listener.onNext(new Result(ACTION_OK));
    });
  }

  @Override
  public void listActions(CallContext context, StreamListener<ActionType> listener) {
    listener.onNext(new ActionType(ACTION_QUERY,
        "Execute a SQL statement given as JSON {\"query\": \"<sql>\"}; answers {\"status\":\"ok\"}"));
    FlightSqlProducer.super.listActions(context, listener);
  }

  private static boolean looksLikeJson(byte[] bytes) {
    for (byte b : bytes) {
      if (!Character.isWhitespace(b)) {
        return b == '{';
      }
    }
    return false;
  }

  /** The id of the query a JSON ticket belongs to ({@code "query_id"}, optional), or null. */
  private QueryId jsonQueryId(byte[] bytes) {
    try {
      JsonNode id = json.readTree(bytes).get("query_id");
      return id != null && id.isTextual() ? new QueryId(id.asText()) : null;
    } catch (java.io.IOException | QuiverException e) {
      return null;
    }
  }

  /** The memory budget of the query a JSON ticket belongs to ({@code "memory_bytes"}, optional), or 0. */
  private long jsonMemoryBytes(byte[] bytes) {
    try {
      JsonNode m = json.readTree(bytes).get("memory_bytes");
      return m != null && m.canConvertToLong() ? Math.max(0, m.asLong()) : 0;
    } catch (java.io.IOException e) {
      return 0;
    }
  }

  private String jsonQuery(byte[] bytes, String what) {
    JsonNode node;
    try {
      node = json.readTree(bytes);
    } catch (java.io.IOException e) {
      String reason = e instanceof com.fasterxml.jackson.core.JsonProcessingException j
          ? j.getOriginalMessage() : e.getMessage();
      throw QuiverException.user(ErrorCode.MALFORMED_REQUEST, "the %s is not valid JSON: %s", what, reason);
    }
    JsonNode q = node == null ? null : node.get("query");
    if (q == null || !q.isTextual() || q.asText().isBlank()) {
      throw QuiverException.user(ErrorCode.MALFORMED_REQUEST,
          "the %s must be JSON with a non-empty string field \"query\", e.g. {\"query\": \"SELECT 1\"}", what);
    }
    return q.asText();
  }

  private static boolean isFlightSqlCommand(byte[] bytes) {
    try {
      return Any.parseFrom(bytes).getTypeUrl().startsWith(SQL_TYPE_PREFIX);
    } catch (InvalidProtocolBufferException e) {
      return false;
    }
  }

  // ---------------------------------------------------------------- plumbing

  @FunctionalInterface
  private interface Body<T> {
    T run() throws Exception;
  }

  @FunctionalInterface
  private interface VoidBody {
    void run() throws Exception;
  }

  private static <T> T call(Body<T> body) {
    try {
      return body.run();
    } catch (Throwable t) {
      throw FlightErrors.toFlight(t);
    }
  }

  private static void stream(ServerStreamListener listener, VoidBody body) {
    try {
      body.run();
    } catch (Throwable t) {
      listener.error(FlightErrors.toFlight(t));
    }
  }

  private static void respond(StreamListener<Result> listener, VoidBody body) {
    try {
      body.run();
      listener.onCompleted();
    } catch (Throwable t) {
      listener.onError(FlightErrors.toFlight(t));
    }
  }

  private static void put(StreamListener<PutResult> ack, VoidBody body) {
    try {
      body.run();
      ack.onCompleted();
    } catch (Throwable t) {
      ack.onError(FlightErrors.toFlight(t));
    }
  }

  private void sendUpdateCount(StreamListener<PutResult> ack, long count) {
    sendMetadata(ack, DoPutUpdateResult.newBuilder().setRecordCount(count).build());
  }

  private void sendMetadata(StreamListener<PutResult> ack, Message message) {
    byte[] bytes = message.toByteArray();
    try (ArrowBuf buf = allocator.buffer(bytes.length)) {
      buf.writeBytes(bytes);
      ack.onNext(PutResult.metadata(buf));
    }
  }

  @Override
  public void close() {
    queries.close();
    LOG.debug("producer closed");
  }
}
