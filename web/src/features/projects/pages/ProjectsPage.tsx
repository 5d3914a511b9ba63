import { useState } from 'react';
import { Anchor, Button, Group, Modal, Stack, Table, Text, Title } from '@mantine/core';
import { RowActions } from '../../../components/RowActions';
import { Link } from 'react-router';
import type { Schemas } from '../../../api/client';
import { EmptyState, QueryState } from '../../../components/QueryState';
import { LoadMore } from '../../../components/LoadMore';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { notifySuccess } from '../../../components/notify';
import { loadedRows } from '../../../lib/paging';
import { useOrg } from '../../organizations/components/org-context';
import { useProjects } from '../api/listProjects';
import { useCreateProject } from '../api/createProject';
import { useUpdateProject } from '../api/updateProject';
import { useDeleteProject } from '../api/deleteProject';
import { ProjectForm } from '../components/ProjectForm';

type Project = Schemas['Project'];

/** Projects, the example resource: list (cursor paging), create, edit, delete, as the role allows. */
export default function ProjectsPage() {
  const { org, can } = useOrg();
  const projects = useProjects(org.slug);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<Project | null>(null);
  const [deleting, setDeleting] = useState<Project | null>(null);
  const canCreate = can('projects:create');
  const rows = loadedRows(projects);
  return (
    <Stack gap="md">
      <Group justify="space-between">
        <Title order={1} size="h2">
          Projects
        </Title>
        {canCreate ? <Button onClick={() => setCreating(true)}>New project</Button> : null}
      </Group>
      <QueryState
        query={projects}
        what="projects"
        isEmpty={() => rows.length === 0}
        empty={
          <EmptyState title="No projects yet">
            {canCreate ? (
              <Button variant="light" onClick={() => setCreating(true)}>
                Create the first project
              </Button>
            ) : (
              <Text size="sm" c="dimmed">
                Your role cannot create projects.
              </Text>
            )}
          </EmptyState>
        }
      >
        {() => (
          <>
            <Table.ScrollContainer minWidth={320}>
              <Table striped highlightOnHover>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Name</Table.Th>
                    <Table.Th className="hide-narrow">Description</Table.Th>
                    <Table.Th className="hide-narrow">Created</Table.Th>
                    <Table.Th>
                      <span className="visually-hidden">Actions</span>
                    </Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((p) => (
                    <Table.Tr key={p.id}>
                      <Table.Td>
                        <Anchor component={Link} to={p.id} size="sm">
                          {p.name}
                        </Anchor>
                      </Table.Td>
                      <Table.Td className="hide-narrow">
                        <Text size="sm" c="dimmed" lineClamp={2}>
                          {p.description ?? '—'}
                        </Text>
                      </Table.Td>
                      <Table.Td className="hide-narrow">
                        {new Date(p.createdAt).toLocaleDateString()}
                      </Table.Td>
                      <Table.Td>
                        <RowActions
                          name={p.name}
                          onEdit={can('projects:update') ? () => setEditing(p) : undefined}
                          onDelete={can('projects:delete') ? () => setDeleting(p) : undefined}
                        />
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
            <LoadMore query={projects} />
          </>
        )}
      </QueryState>
      <CreateProjectModal open={creating} onClose={() => setCreating(false)} />
      <EditProjectModal project={editing} onClose={() => setEditing(null)} />
      <DeleteProjectModal project={deleting} onClose={() => setDeleting(null)} />
    </Stack>
  );
}

function CreateProjectModal({ open, onClose }: { readonly open: boolean; readonly onClose: () => void }) {
  const { org } = useOrg();
  const create = useCreateProject(org.slug);
  const close = () => {
    create.reset();
    onClose();
  };
  return (
    <Modal opened={open} onClose={close} title="New project">
      <ProjectForm
        key={String(open)}
        submitLabel="Create project"
        pending={create.isPending}
        error={create.error}
        onCancel={close}
        onSubmit={(draft) =>
          create.mutate(draft, {
            onSuccess: (p) => {
              notifySuccess(`Project “${p.name}” created`);
              close();
            },
          })
        }
      />
    </Modal>
  );
}

function EditProjectModal({
  project,
  onClose,
}: {
  readonly project: Project | null;
  readonly onClose: () => void;
}) {
  const { org } = useOrg();
  const update = useUpdateProject(org.slug);
  const close = () => {
    update.reset();
    onClose();
  };
  return (
    <Modal opened={project !== null} onClose={close} title="Edit project">
      {project ? (
        <ProjectForm
          key={project.id}
          initial={project}
          submitLabel="Save"
          pending={update.isPending}
          error={update.error}
          onCancel={close}
          onSubmit={(draft) => update.mutate({ id: project.id, ...draft }, { onSuccess: close })}
        />
      ) : null}
    </Modal>
  );
}

function DeleteProjectModal({
  project,
  onClose,
}: {
  readonly project: Project | null;
  readonly onClose: () => void;
}) {
  const { org } = useOrg();
  const remove = useDeleteProject(org.slug);
  return (
    <ConfirmDialog
      opened={project !== null}
      onClose={onClose}
      title="Delete project"
      confirmLabel="Delete"
      mutation={remove}
      onConfirm={(close) => project && remove.mutate(project.id, { onSuccess: close })}
    >
      Delete <strong>{project?.name}</strong>? This cannot be undone.
    </ConfirmDialog>
  );
}
