package io.quiver.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quiver.proto.ErrorCode;
import io.quiver.proto.QuiverException;
import java.sql.SQLException;
import org.apache.arrow.flight.CallStatus;
import org.apache.arrow.flight.FlightRuntimeException;
import org.apache.arrow.flight.FlightStatusCode;
import org.junit.jupiter.api.Test;

class FlightErrorsTest {
  @Test
  void everyCodeMapsToAStatus() {
    for (ErrorCode code : ErrorCode.values()) {
      FlightRuntimeException f = FlightErrors.toFlight(new QuiverException(code, "m"));
      assertEquals(FlightErrors.statusOf(code).code(), f.status().code());
      assertEquals("[" + code + "] m", f.status().description());
      assertEquals(String.valueOf(code.code()), f.status().metadata().get(FlightErrors.ERROR_CODE_KEY));
    }
    assertEquals(FlightStatusCode.NOT_FOUND, FlightErrors.statusOf(ErrorCode.TABLE_NOT_FOUND).code());
    assertEquals(FlightStatusCode.CANCELLED, FlightErrors.statusOf(ErrorCode.QUERY_CANCELLED).code());
    assertEquals(FlightStatusCode.RESOURCE_EXHAUSTED, FlightErrors.statusOf(ErrorCode.OUT_OF_MEMORY).code());
  }

  @Test
  void duckDbErrorsKeepTheirMessageAndGetACode() {
    FlightRuntimeException f = FlightErrors.toFlight(new SQLException("Parser Error: syntax error at or near \"SELEC\""));
    assertEquals(FlightStatusCode.INVALID_ARGUMENT, f.status().code());
    assertTrue(f.status().description().startsWith("[SYNTAX_ERROR] Parser Error"), f.status().description());
  }

  @Test
  void internalErrorsDoNotLeakJavaDetails() {
    FlightRuntimeException f = FlightErrors.toFlight(new NullPointerException("secret internals"));
    assertEquals(FlightStatusCode.INTERNAL, f.status().code());
    assertFalse(f.status().description().contains("secret internals"));
    assertTrue(f.status().description().contains("server log"));
  }

  @Test
  void flightExceptionsPassThrough() {
    FlightRuntimeException original = CallStatus.UNAUTHENTICATED.toRuntimeException();
    assertEquals(original, FlightErrors.toFlight(original));
  }
}
