"""The course server (`autograder serve`): students submit code and take quizzes in the browser,
the warm grading pool grades, and the gradebook records every result.

Modules, one job each: ``course`` (course.yaml), ``store`` (the server's gradebook tables),
``tokens`` (login tokens), ``auth`` (who is asking, sessions, CSRF, rate limits), ``grader``
(the queue and the grading pool), ``api`` (JSON routes), ``pages`` (student HTML),
``instructor`` (instructor HTML and downloads), ``quizzes`` (quiz routes, also the practice
mode of `quiz serve`), ``app`` (assembly and running).
"""
