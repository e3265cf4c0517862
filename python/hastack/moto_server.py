"""moto server with the EC2 call moto 5.2 lacks: DeleteLaunchTemplateVersions; and
DescribeLaunchTemplates answering the template's current tags, as AWS does (moto answers the
tags it had when created, so a tag added by CreateTags never shows).

The embedded emulator runs ``python -m hastack.moto_server``. It implements a real AWS call
faithfully; it fakes no result. amazon.aws.ec2_launch_template state=absent deletes every
non-default version before the template; moto answers that call with HTTP 500, so a template
with more than one version can never be deleted on the emulator.

moto addresses versions by list position; once a version can be deleted they are addressed by
their number instead.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.ec2.exceptions import InvalidLaunchTemplateVersionNotFound
from moto.ec2.models.launch_templates import LaunchTemplate, LaunchTemplateVersion
from moto.ec2.responses.launch_templates import LaunchTemplates


def _by_number(self: LaunchTemplate, num: Any) -> LaunchTemplateVersion:
    for version in self.versions:
        if version.number == int(num):
            return version
    raise InvalidLaunchTemplateVersionNotFound(template_id=self.id, version=num)


def _create_version(
    self: LaunchTemplate, data: dict[str, Any], description: str
) -> LaunchTemplateVersion:
    num = self.versions[-1].number + 1 if self.versions else 1
    version = LaunchTemplateVersion(self, num, data, description)
    self.versions.append(version)
    return version


def _get_version(self: LaunchTemplate, num: Any) -> LaunchTemplateVersion:
    if str(num).lower() == "$latest":
        return self.versions[-1]
    if str(num).lower() == "$default":
        return self.default_version()
    return _by_number(self, num)


def _default_version(self: LaunchTemplate) -> LaunchTemplateVersion:
    return _by_number(self, self.default_version_number)


def _delete_launch_template_versions(self: LaunchTemplates) -> ActionResult:
    name = self._get_param("LaunchTemplateName")
    template_id = self._get_param("LaunchTemplateId")
    self.error_on_dryrun()
    if name:
        template = self.ec2_backend.get_launch_template_by_name(name)
    else:
        template = self.ec2_backend.get_launch_template(template_id)
    done, failed = [], []
    for requested in self._get_param("Versions", []):
        entry = {"LaunchTemplateId": template.id, "LaunchTemplateName": template.name}
        numbers = [v.number for v in template.versions]
        if not str(requested).isdigit() or int(requested) not in numbers:
            failed.append(
                {
                    **entry,
                    "VersionNumber": int(requested) if str(requested).isdigit() else 0,
                    "ResponseError": {
                        "Code": "launchTemplateVersionDoesNotExist",
                        "Message": f"version {requested} does not exist",
                    },
                }
            )
        elif int(requested) == template.default_version_number:
            failed.append(
                {
                    **entry,
                    "VersionNumber": int(requested),
                    "ResponseError": {
                        "Code": "launchTemplateVersionDefault",
                        "Message": "the default version cannot be deleted",
                    },
                }
            )
        else:
            template.versions = [v for v in template.versions if v.number != int(requested)]
            done.append({**entry, "VersionNumber": int(requested)})
    return ActionResult(
        {
            "SuccessfullyDeletedLaunchTemplateVersions": done,
            "UnsuccessfullyDeletedLaunchTemplateVersions": failed,
        }
    )


# AWS describes a template with its tags as they are now; moto keeps a copy made at creation.
LaunchTemplate.tags = property(  # type: ignore[assignment]
    lambda self: self.get_tags(), lambda self, value: None
)
LaunchTemplate.create_version = _create_version  # type: ignore[method-assign]
LaunchTemplate.get_version = _get_version  # type: ignore[method-assign]
LaunchTemplate.default_version = _default_version  # type: ignore[method-assign]
LaunchTemplates.delete_launch_template_versions = _delete_launch_template_versions  # type: ignore[attr-defined]

if __name__ == "__main__":
    from moto.server import main

    main()
