import { AppError } from '../../platform/errors.js';

export type ProjectsErrorCode = 'PROJECT_NOT_FOUND' | 'PROJECT_NAME_TAKEN';

const STATUS: Record<ProjectsErrorCode, number> = { PROJECT_NOT_FOUND: 404, PROJECT_NAME_TAKEN: 409 };

/** Errors of the projects module. */
export class ProjectsError extends AppError<ProjectsErrorCode> {
  constructor(code: ProjectsErrorCode, message: string) {
    super(code, message, STATUS[code]);
  }
}

/** The one answer for a project that does not exist in the caller's tenant, whoever else owns it. */
export const projectNotFound = () => new ProjectsError('PROJECT_NOT_FOUND', 'project not found');
