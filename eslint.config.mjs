// ESLint for the TypeScript of the whole repository: typescript-eslint's recommended rules
// with type information, floating promises refused, and Pulumi's rule against an Output in a
// template literal (it would print "Calling [toString] on an Output<T> is not supported").
import { defineConfig, globalIgnores } from "eslint/config";
import tseslint from "typescript-eslint";
import pulumi from "@pulumi/eslint-plugin";

export default defineConfig(
    globalIgnores(["**/node_modules/", "bin/", "out/", "coverage/", ".lab/"]),
    tseslint.configs.recommended,
    {
        languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
        // The plugin exports only its rules: it is registered under its own name.
        plugins: { "@pulumi": pulumi },
        rules: {
            "@typescript-eslint/no-floating-promises": "error",
            "@pulumi/no-output-in-template-literal": "error",
            "@pulumi/no-output-instance-in-template-literal": "error",
        },
    },
    {
        // Tests edit raw, untyped config (YAML as the stack files hold it) and load modules lazily.
        files: ["tests/**/*.ts"],
        rules: { "@typescript-eslint/no-explicit-any": "off", "@typescript-eslint/no-require-imports": "off" },
    },
    {
        // jest.config.js and this file are not in tsconfig: no type information for them.
        files: ["**/*.js", "**/*.mjs", "**/*.cjs"],
        extends: [tseslint.configs.disableTypeChecked],
        rules: { "@pulumi/no-output-in-template-literal": "off", "@pulumi/no-output-instance-in-template-literal": "off" },
    },
);
