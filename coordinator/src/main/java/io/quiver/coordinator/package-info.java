/**
 * Analyzer, planner, fragmenter and scheduler. Empty until the distributed query engine issue; a
 * single node runs each statement directly in its embedded engine (flight-server's query package).
 */
package io.quiver.coordinator;
