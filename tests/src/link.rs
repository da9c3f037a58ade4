//! Virtual-time link emulator (skeleton: implemented by the test-kit task).
