// Public entry of @select/cli: The select command: infra, services, jobs and the main curation run
export {};
