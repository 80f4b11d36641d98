"""The opening every study page shares: the study its address names and the iteration."""

from __future__ import annotations

from dataclasses import dataclass

from dash import html

from dashboard.app_state import study_status
from dashboard.components.notices import no_study_notice
from dashboard.study import Study
from dashboard.study_view import StudyView, links_of, parse_iteration
from dashboard.urls import Links, single


@dataclass(frozen=True)
class StudyPage:
    name: str | None  # the address's `study=` (None: the configured study)
    study: Study
    iteration: int  # the address's `iteration=`, or the study's default
    iteration_problem: str  # why the address's iteration was not read ("" when it was)

    @property
    def view(self) -> StudyView:
        return StudyView(self.study, self.iteration)

    @property
    def links(self) -> Links:
        return links_of(self.study, {"study": self.name, "iteration": self.iteration})


def open_study_page(title: str, query: dict) -> StudyPage | html.Div:
    """The study and iteration a page's address names; when no study can be opened, the page
    to show instead (titled `title`, saying why)."""
    name = single(query.get("study"))
    status = study_status(name)
    if status.study is None:
        return html.Div([html.H2(title), no_study_notice(status.problem)])
    try:
        iteration, problem = parse_iteration(status.study, query.get("iteration")), ""
    except ValueError as error:
        iteration, problem = status.study.default_iteration, str(error)
    return StudyPage(name, status.study, iteration, problem)
