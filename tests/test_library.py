"""Loading and validating goal_map.json: pure, so tested without any files."""

from __future__ import annotations

import json

import pytest

from meta_prompting.errors import UnknownGoalError
from meta_prompting.library.goals import Library, Part, parse_goal_map
from meta_prompting.library.mapfile import parse_jobs
from meta_prompting.store.files import check_part_name, check_project_name


def goal(**overrides: object) -> dict[str, object]:
    spec: dict[str, object] = {"description": "d", "persona": "p.txt", "protocol": "q.txt",
                               "constraints": ["c.txt"]}
    spec.update(overrides)
    return {key: value for key, value in spec.items() if value is not ...}


def problems_for(data: object) -> list[str]:
    return parse_goal_map(json.dumps(data, indent=2))[1]


def test_a_good_map_parses_in_order() -> None:
    goals, problems = parse_goal_map(json.dumps({"B": goal(), "A": goal(constraints=[])}))
    assert problems == []
    assert list(goals) == ["B", "A"]
    assert goals["B"].parts == (Part("persona", "p.txt"), Part("protocol", "q.txt"),
                                Part("constraint", "c.txt"))
    assert goals["A"].constraints == ()


def test_invalid_json_names_line_and_column() -> None:
    text = '{\n  "AUDIT": {\n    "persona": "a.txt"\n    "protocol": "b.txt"\n  }\n}\n'
    assert parse_goal_map(text)[1] == [
        "goal_map.json:4:5: invalid JSON: Expecting ',' delimiter"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param([], "goal_map.json:1:1: must be a JSON object mapping goal names to goals",
                     id="not-an-object"),
        pytest.param({}, "goal_map.json:1:1: defines no goals", id="no-goals"),
        pytest.param({"AUDIT": "x"}, 'goal_map.json:2:3: goal "AUDIT" must be an object',
                     id="goal-not-object"),
        pytest.param({"audit": goal()}, 'goal_map.json:2:3: goal "audit": the name must be '
                     'UPPER_SNAKE_CASE', id="lowercase-goal"),
        pytest.param({"AUDIT": goal(persna="x.txt")}, 'goal_map.json:9:5: goal "AUDIT": '
                     '"persna" is not a known field (did you mean "persona"?)', id="typo-field"),
        pytest.param({"AUDIT": goal(persona=...)}, 'goal_map.json:2:3: goal "AUDIT": "persona" '
                     'is missing', id="missing-persona"),
        pytest.param({"AUDIT": goal(constraints=...)}, 'goal "AUDIT": "constraints" is missing',
                     id="missing-constraints"),
        pytest.param({"AUDIT": goal(constraints="c.txt")}, 'goal_map.json:6:5: goal "AUDIT": '
                     '"constraints" must be a list of file names', id="constraints-not-list"),
        pytest.param({"AUDIT": goal(persona=3)}, '"persona" must be a file name (a string), '
                     'not int', id="persona-not-string"),
        pytest.param({"AUDIT": goal(description=["x"])}, '"description" must be a string',
                     id="description-not-string"),
        pytest.param({"AUDIT": goal(protocol="../../etc/passwd")}, "must be a bare file name",
                     id="traversal"),
        pytest.param({"AUDIT": goal(protocol="/etc/passwd.txt")}, "must be a bare file name",
                     id="absolute"),
        pytest.param({"AUDIT": goal(protocol=".hidden.txt")}, "must not start with a dot",
                     id="hidden"),
        pytest.param({"AUDIT": goal(protocol="run.sh")}, "end in .txt or .md", id="extension"),
        pytest.param({"AUDIT": goal(protocol="")}, "must not be empty", id="empty-name"),
        pytest.param({"AUDIT": goal(constraints=["a.txt", "a.txt"])},
                     "item 2: 'a.txt' is listed twice", id="duplicate-constraint"),
        pytest.param({"AUDIT": goal(constraints=["ok.txt", "x/y.txt"])},
                     "item 2: 'x/y.txt' must be a bare file name", id="constraint-with-dir"),
    ],
)
def test_schema_errors_name_the_goal_and_field(data: object, expected: str) -> None:
    problems = problems_for(data)
    assert len(problems) >= 1
    assert expected in problems[0]


def test_every_problem_is_collected_and_the_map_refused_whole() -> None:
    goals, problems = parse_goal_map(json.dumps(
        {"GOOD": goal(), "BAD": goal(persona="../x.txt"), "WORSE": goal(constraints={})}))
    assert len(problems) == 2
    assert "BAD" in problems[0] and "WORSE" in problems[1]


def test_duplicate_goal_is_an_error() -> None:
    spec = json.dumps(goal())
    text = f'{{"AUDIT": {spec}, "AUDIT": {spec}}}'
    assert parse_goal_map(text)[1] == ['goal_map.json:1:2: key "AUDIT" appears twice']


@pytest.mark.parametrize("name", ["a.txt", "root_cause-2.md", "v1.2.txt", "A.TXT".lower()])
def test_good_part_names(name: str) -> None:
    assert check_part_name(name) is None


@pytest.mark.parametrize("name", ["", ".", "..", "../a.txt", "a/b.txt", "a\\b.txt", ".a.txt",
                                  "a.json", "a b.txt", "a.txt\n", None, 1])
def test_bad_part_names(name: object) -> None:
    assert check_part_name(name) is not None


@pytest.mark.parametrize("name", ["x", "my-project_2", "v1.0", "a" * 64])
def test_good_project_names(name: str) -> None:
    assert check_project_name(name) is None


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "/tmp/x", "a/b", ".hidden", "a" * 65,
                                  "sp ace", "semi;colon"])
def test_bad_project_names(name: str) -> None:
    assert check_project_name(name) is not None


def test_goal_lookup_is_case_insensitive_and_suggests(tmp_path: object) -> None:
    goals, _ = parse_goal_map(json.dumps({"AUDIT": goal(), "DEBUG": goal()}))
    library = Library(root=tmp_path, goals=goals)  # type: ignore[arg-type]
    assert library.goal("audit").name == "AUDIT"
    with pytest.raises(UnknownGoalError) as e:
        library.goal("audt")
    assert str(e.value) == 'unknown goal "audt"; did you mean "AUDIT"? Valid goals: AUDIT, DEBUG'


def test_generation_jobs_are_validated() -> None:
    jobs, problems = parse_jobs(json.dumps({
        "protocols/a.txt": "  what   a is for ",
        "elsewhere/b.txt": "x",
        "personas/../c.txt": "x",
        "constraints/d.txt": "",
    }, indent=2))
    assert jobs == {"protocols/a.txt": "what a is for"}
    assert len(problems) == 3
    assert problems[0].startswith('generation_jobs.json:3:3: "elsewhere/b.txt": must start with')


@pytest.mark.parametrize("spec", [
    goal(), goal(constraints=[]), goal(description=...), goal(persona=None), goal(persona="a"),
    goal(persona=".a.txt"), goal(persona="a/b.txt"), goal(constraints=["a.txt", "a.txt"]),
    goal(constraints=[1]), goal(constraints=("a.txt",)), goal(extra=1), goal(description=1),
    goal(protocol="x.md"), goal(protocol="x.MD"), goal(constraints=["a..txt"]), [], "x", None,
    goal(description="bad \ud800 text"), goal(persona="CON.txt"), goal(constraints=["Aux.md"]),
    goal(protocol="x" * 197 + ".txt"), goal(protocol="x" * 196 + ".txt"), goal(persona="a.txt."),
])
@pytest.mark.parametrize("name", ["AUDIT", "audit", "A1_B", "_X"])
def test_the_quick_check_and_the_full_one_agree(name: str, spec: object) -> None:
    from meta_prompting.library.mapfile import _goal_problems, _is_valid_goal, _Locator

    text = json.dumps({name: spec})
    assert _is_valid_goal(name, spec) == (not _goal_problems(name, spec, _Locator(text, "m")))
