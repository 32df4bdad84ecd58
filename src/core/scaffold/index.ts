export { IDENT_RULE, PROJECT_NAME_RULE, identNameProblem, projectNameProblem, snakeName } from "./names.ts";
export { NEW_PLACEHOLDERS, isSafeRelativePath, localTemplateProblem, outputPath, renderTemplate, renderText, type RenderResult, type Template, type TemplateFile } from "./render.ts";
export { EditFailed, addGeneratorSource, addModuleTopology, addTaskToTomlTopology, defaultParent, type ParentChoice } from "./edit.ts";
