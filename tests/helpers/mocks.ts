export * from "../../scripts/mockRuntime";
